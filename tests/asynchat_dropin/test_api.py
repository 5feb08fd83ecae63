"""The classic async_chat API surface of the drop-in, without a network."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from core.test_linear import CountingBuffer, CountingChannel

from asyncframe.adapters import asynchat


class Collector(asynchat.async_chat):
    def __init__(self, chat_map: dict[int, object]) -> None:
        super().__init__(map=chat_map)
        self.log: list[object] = []

    def collect_incoming_data(self, data: bytes) -> None:
        self.log.append(data)

    def found_terminator(self) -> None:
        self.log.append(("found", self.get_terminator()))


@pytest.fixture
def pair() -> Iterator[tuple[Collector, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    chat = Collector({})
    chat.set_socket(ours)
    chat.connected = True
    yield chat, theirs
    chat.close()
    theirs.close()


def test_defaults() -> None:
    assert asynchat.async_chat.ac_in_buffer_size == 65536
    assert asynchat.async_chat.ac_out_buffer_size == 65536
    assert asynchat.async_chat.use_encoding == 0
    assert asynchat.async_chat.encoding == "latin-1"
    chat = asynchat.async_chat()
    assert chat.get_terminator() is None
    assert chat.readable()
    with pytest.raises(NotImplementedError):
        chat.collect_incoming_data(b"x")
    with pytest.raises(NotImplementedError):
        chat.found_terminator()
    with pytest.raises(ValueError, match="positive"):
        chat.set_terminator(-1)


def test_incoming_helpers() -> None:
    chat = asynchat.async_chat()
    chat._collect_incoming_data(b"ab")
    chat._collect_incoming_data(b"cd")
    assert chat.incoming == [b"ab", b"cd"]
    assert chat._get_data() == b"abcd"
    assert chat.incoming == []


def test_terminator_attribute_and_leniency() -> None:
    chat = asynchat.async_chat()
    chat.terminator = b"\n"
    assert chat.get_terminator() == b"\n"
    chat.set_terminator(b"")  # collects everything, and reads back as set
    assert chat.get_terminator() == b""
    chat.use_encoding = True
    chat.set_terminator("\r\n")
    assert chat.get_terminator() == b"\r\n"
    chat.use_encoding = False
    with pytest.raises(TypeError, match="encode it"):
        chat.set_terminator("\r\n")


def test_empty_terminator_collects_everything(pair: tuple[Collector, socket.socket]) -> None:
    chat, theirs = pair
    chat.set_terminator(b"")
    theirs.sendall(b"a\r\nb")
    chat.handle_read()
    assert chat.log == [b"a\r\nb"]


def test_ac_in_buffer_shows_held_back_bytes(pair: tuple[Collector, socket.socket]) -> None:
    chat, theirs = pair
    chat.set_terminator(b"\r\n")
    theirs.sendall(b"line\r")
    chat.handle_read()
    assert chat.log == [b"line"]
    assert chat.ac_in_buffer == b"\r"
    chat.ac_in_buffer = b""  # code in the wild resets it like this
    theirs.sendall(b"\nx\r\n")
    chat.handle_read()
    assert chat.log == [b"line", b"\nx", ("found", b"\r\n")]


def test_count_terminator_reads_remaining(pair: tuple[Collector, socket.socket]) -> None:
    chat, theirs = pair
    chat.set_terminator(5)
    theirs.sendall(b"abc")
    chat.handle_read()
    assert chat.get_terminator() == 2
    assert chat.terminator == 2
    theirs.sendall(b"defg")
    chat.handle_read()
    assert chat.log == [b"abc", b"de", ("found", 0), b"fg"]


def test_a_count_has_no_limit_as_in_asynchat(pair: tuple[Collector, socket.socket]) -> None:
    # Larger than any channel's default limit on counts: asynchat had none.
    chat, theirs = pair
    chat.set_terminator(64 * 1024 * 1024)
    theirs.sendall(b"abc")
    chat.handle_read()
    assert chat.log == [b"abc"]
    assert chat.get_terminator() == 64 * 1024 * 1024 - 3


def test_handle_read_ignores_blocking_io_error(pair: tuple[Collector, socket.socket]) -> None:
    chat, _ = pair
    chat.handle_read()  # nothing to read on a non-blocking socket
    assert chat.log == []


def test_producer_fifo_is_the_classic_deque(pair: tuple[Collector, socket.socket]) -> None:
    chat, _ = pair
    chat.connected = False  # keep initiate_send from sending while we look
    assert not chat.producer_fifo
    chat.push(b"one")
    chat.producer_fifo.append(b"two")
    producer = asynchat.simple_producer(b"three")
    chat.push_with_producer(producer)
    chat.close_when_done()
    assert list(chat.producer_fifo) == [b"one", b"two", producer, None]
    assert chat.writable()
    chat.producer_fifo.clear()
    assert not chat.producer_fifo
    chat.incoming.append(b"x")
    chat.discard_buffers()
    assert chat.incoming == []


def test_use_encoding_encodes_text_output(pair: tuple[Collector, socket.socket]) -> None:
    chat, theirs = pair
    chat.use_encoding = True

    class TextProducer:
        def __init__(self) -> None:
            self.parts = ["é", "!"]

        def more(self) -> str:
            return self.parts.pop(0) if self.parts else ""

    chat.push_with_producer("café ")
    chat.push_with_producer(TextProducer())
    for _ in range(10):
        chat.initiate_send()
    assert theirs.recv(100) == "café é!".encode("latin-1")


def test_push_rejects_text() -> None:
    chat = asynchat.async_chat()
    with pytest.raises(TypeError, match="byte-ish"):
        chat.push("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="byte-ish"):
        chat.push(10)  # type: ignore[arg-type]


def test_find_prefix_at_end_takes_text_too() -> None:
    assert asynchat.find_prefix_at_end("qwerty\r", "\r\n") == 1
    assert asynchat.find_prefix_at_end(b"qwerty\r", b"\r\n") == 1
    assert asynchat.find_prefix_at_end("qwertydkjf", "\r\n") == 0


def test_many_short_frames_in_one_read_stay_linear(
    pair: tuple[Collector, socket.socket],
) -> None:
    chat, theirs = pair
    chat._channel = CountingChannel(None, max_frame_size=1 << 30)
    chat.set_terminator(b"\r\n")
    chat.ac_in_buffer_size = 65536  # type: ignore[misc]
    data = b"abcdefgh\r\n" * 6000
    theirs.sendall(data)
    CountingBuffer.work = 0
    while len(chat.log) < 12000:
        chat.handle_read()
    assert chat.log.count(("found", b"\r\n")) == 6000
    assert CountingBuffer.work <= 10 * len(data)


def test_simple_producer_takes_bytes_like_data_only() -> None:
    with pytest.raises(TypeError, match="data"):
        asynchat.simple_producer("text")  # type: ignore[arg-type]
    assert asynchat.simple_producer(bytearray(b"abc"), buffer_size=2).more() == b"ab"


def test_framing_uses_the_terminator_set_not_an_overridden_getter(
    pair: tuple[Collector, socket.socket],
) -> None:
    chat, theirs = pair
    chat.get_terminator = lambda: b"X"  # type: ignore[method-assign]
    chat.set_terminator(b"\r\n")
    theirs.sendall(b"aXb\r\n")
    chat.handle_read()
    assert chat.log == [b"aXb", ("found", b"X")]
