"""The receive buffer: taking moves an offset; compaction is paid for by consumed bytes."""

from __future__ import annotations

from asyncframe._receivebuffer import ReceiveBuffer


def test_take_moves_the_offset_only() -> None:
    buf = ReceiveBuffer(bytearray())
    assert buf.append(b"hello world") == 0
    assert buf.take(5) == b"hello"
    assert buf.start == 5
    assert len(buf) == 6
    assert buf.unread() == b" world"
    assert bytes(buf.data) == b"hello world"  # nothing was copied or moved


def test_compaction_waits_until_consumed_bytes_outnumber_live_ones() -> None:
    buf = ReceiveBuffer(bytearray())
    buf.append(b"a" * 10)
    buf.take(4)  # 4 consumed, 6 live: moving 6 bytes to drop 4 would not pay
    assert buf.append(b"b") == 0
    assert buf.start == 4
    buf.take(6)  # 6 consumed, 5 live
    assert buf.append(b"c") == 6  # the offsets moved back by what was dropped
    assert buf.start == 0
    assert buf.unread() == b"aaaabc"[-len(buf) :]
    assert bytes(buf.data) == buf.unread()


def test_memory_stays_within_twice_the_live_bytes_plus_a_chunk() -> None:
    buf = ReceiveBuffer(bytearray())
    for _ in range(1000):
        buf.append(b"x" * 100)
        buf.take(buf.start + 90)  # 10 bytes stay unread each time
        assert len(buf.data) <= 2 * len(buf) + 100


def test_clear_drops_everything() -> None:
    buf = ReceiveBuffer(bytearray(b"abc"))
    buf.take(1)
    buf.clear()
    assert (buf.start, len(buf), buf.unread()) == (0, 0, b"")
