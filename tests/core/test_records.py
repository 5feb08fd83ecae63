"""Record kinds: MarkedLines, StructPrefix, DecimalPrefix, and the max_record_size limit."""

from __future__ import annotations

import ast
import itertools
import re
import struct
import sys
from collections.abc import Callable, Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import asyncframe
from asyncframe import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_RECORD_SIZE,
    NEED_DATA,
    Channel,
    ConnectionClosed,
    Data,
    DecimalPrefix,
    FrameTooLong,
    Handler,
    MarkedLines,
    ProtocolError,
    RecordKind,
    StructPrefix,
    Terminator,
)

from .test_linear import CountingBuffer, CountingChannel

RESP_SET = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
MAXD = 19


def frames_of(kind: object, data: bytes, **limits: int | None) -> list[bytes]:
    ch = Channel(kind, **limits)  # type: ignore[arg-type]
    ch.receive_data(data)
    return list(ch.frames())


# -- the kinds as values ---------------------------------------------------------------


def test_kinds_are_exported_frozen_values_with_reprs() -> None:
    for name in ("MarkedLines", "StructPrefix", "DecimalPrefix", "RecordKind"):
        assert name in asyncframe.__all__
    assert DEFAULT_MAX_RECORD_SIZE == 16 * 1024 * 1024
    assert MarkedLines() == MarkedLines(b"$", b"\r\n")
    assert MarkedLines(bytearray(b"$")) == MarkedLines()
    assert hash(StructPrefix("!I")) == hash(StructPrefix("!I"))
    assert StructPrefix("!I") != StructPrefix(">I")
    assert DecimalPrefix() == DecimalPrefix(b":", b",")
    assert repr(MarkedLines()) == "MarkedLines(marker=b'$', line=b'\\r\\n')"
    assert repr(StructPrefix("<Q")) == "StructPrefix('<Q')"
    assert repr(DecimalPrefix(b"\r\n", b"")) == "DecimalPrefix(separator=b'\\r\\n', trailer=b'')"
    assert StructPrefix("!H").size == 2
    for kind in (MarkedLines(), StructPrefix("B"), DecimalPrefix()):
        assert isinstance(kind, RecordKind)
        with pytest.raises(AttributeError):
            kind.fmt = "x"  # type: ignore[misc, union-attr]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: StructPrefix("!i"), ValueError, "fmt must be one unsigned integer"),
        (lambda: StructPrefix("II"), ValueError, "fmt must be one unsigned integer"),
        (
            lambda: StructPrefix(4),  # type: ignore[arg-type]
            TypeError,
            "fmt must be a str, not int",
        ),
        (lambda: MarkedLines(b""), ValueError, "marker must not be empty"),
        (lambda: MarkedLines(b"$", b""), ValueError, "line must not be empty"),
        (lambda: MarkedLines("$"), TypeError, "marker must be bytes, not str"),
        (lambda: DecimalPrefix(b""), ValueError, "separator must not be empty"),
        (lambda: DecimalPrefix(b":", ","), TypeError, "trailer must be bytes, not str"),
    ],
)
def test_bad_kind_arguments_are_named(
    make: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make()


def test_a_kind_is_a_terminator_everywhere() -> None:
    kind = MarkedLines()
    ch = Channel(kind)
    assert ch.get_terminator() is kind
    assert ch.terminator is kind
    ch.set_terminator(StructPrefix("B"))
    assert ch.get_terminator() == StructPrefix("B")
    ch.terminator = DecimalPrefix()
    assert ch.terminator == DecimalPrefix()
    assert "DecimalPrefix" in repr(ch)
    handler = Handler(terminator=kind, max_record_size=5)
    assert handler.channel.get_terminator() is kind
    assert handler.channel.max_record_size == 5
    assert Terminator(kind).terminator is kind


# -- MarkedLines -------------------------------------------------------------------------


def test_resp_command_frames() -> None:
    assert frames_of(MarkedLines(), RESP_SET) == [b"*3", b"SET", b"key", b"value"]


def test_marked_lines_stay_in_force_record_after_record() -> None:
    ch = Channel(MarkedLines())
    for _ in range(3):
        ch.receive_data(RESP_SET)
        assert list(ch.frames()) == [b"*3", b"SET", b"key", b"value"]
        assert ch.get_terminator() == MarkedLines()


def test_a_payload_holds_any_bytes_and_a_negative_count_is_a_line() -> None:
    data = b"$6\r\na\r\n$1\r\r\n$0\r\n\r\n$-1\r\n+OK\r\n$-x\r\n\r\n"
    assert frames_of(MarkedLines(), data) == [b"a\r\n$1\r", b"", b"$-1", b"+OK", b"$-x", b""]


def test_marked_events_say_which_ended() -> None:
    kind = MarkedLines()
    ch = Channel(kind)
    ch.receive_data(b"*1\r\n$4\r\nPING\r\n$0\r\n\r\n")
    assert list(ch.events()) == [
        Data(b"*1"),
        Terminator(b"\r\n"),
        Data(b"PING"),
        Terminator(kind),
        Terminator(kind),
    ]


def test_marked_lines_with_other_marker_and_line_end() -> None:
    kind = MarkedLines(marker=b"VALUE ", line=b"\n")
    assert frames_of(kind, b"get k\nVALUE 3\na\nb\nEND\n") == [b"get k", b"a\nb", b"END"]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"$abc\r\n", b"$a"),
        (b"$\r\n", b"$\r"),
        (b"$5x\r\n", b"$5x"),
        (b"$5\rx", b"$5\rx"),
        (b"$" + b"1" * 25 + b"\r\n", b"$" + b"1" * (MAXD + 1)),
        (b"$3\r\nabcd\r\n", b"d"),  # the payload is not followed by the line end
        (b"$3\r\nabc\rX", b"\rX"),
    ],
)
def test_marked_malformed_is_a_protocol_error_naming_the_bytes(data: bytes, named: bytes) -> None:
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        ch = Channel(MarkedLines())

        def feed(ch: Channel = ch, chunks: list[bytes] = chunks) -> None:
            for chunk in chunks:
                ch.receive_data(chunk)
                list(ch.frames())

        with pytest.raises(ProtocolError, match=re.escape(repr(named))) as info:
            feed()
        assert type(info.value) is ProtocolError
        with pytest.raises(ProtocolError, match="unusable"):  # the error state
            ch.next_event()
        with pytest.raises(ProtocolError, match="unusable"):
            ch.receive_data(b"more")


def test_marked_lines_limits_are_separate() -> None:
    big = b"v" * 100_000
    ch = Channel(MarkedLines(), max_frame_size=16)
    ch.receive_data(b"$100000\r\n" + big + b"\r\n" + b"x" * 17 + b"\r\nok\r\n")
    assert next(ch.frames()) == big
    with pytest.raises(FrameTooLong) as info:
        list(ch.frames())
    assert info.value.limit_name == "max_frame_size"
    assert list(ch.frames()) == [b"ok"]


def test_an_announced_size_over_the_limit_fails_at_once_and_is_skipped() -> None:
    ch = Channel(MarkedLines(), max_record_size=4)
    ch.receive_data(b"$5\r\n")  # nothing of the payload has arrived
    with pytest.raises(FrameTooLong) as info:
        ch.next_event()
    error = info.value
    assert (error.size, error.limit, error.limit_name, error.complete) == (
        5,
        4,
        "max_record_size",
        False,
    )
    assert "5 bytes" in str(error)
    assert "max_record_size=4" in str(error)
    ch.receive_data(b"hel")
    assert ch.next_event() is NEED_DATA
    ch.receive_data(b"lo\r\n$4\r\nfour\r\n")
    assert list(ch.frames()) == [b"four"]


def test_a_skipped_record_still_checks_its_trailer() -> None:
    ch = Channel(MarkedLines(), max_record_size=1)
    ch.receive_data(b"$2\r\nabXY")
    with pytest.raises(FrameTooLong):
        list(ch.frames())
    with pytest.raises(ProtocolError, match=re.escape(repr(b"X"))):
        list(ch.frames())


@pytest.mark.parametrize(
    ("kind", "record"),
    [
        (MarkedLines(), b"$1\r\nx\r\n"),
        (StructPrefix("!H"), b"\x00\x01x"),
        (DecimalPrefix(), b"1:x,"),
    ],
    ids=repr,
)
def test_complete_frames_takes_at_most_max_frames(kind: RecordKind, record: bytes) -> None:
    ch = Channel(kind)
    ch.receive_data(record * 5 + record[:-1])
    assert ch.complete_frames(2) == [b"x", b"x"]
    assert ch.buffered_input == 3 * len(record) + len(record) - 1
    assert ch.complete_frames(2) == [b"x", b"x"]
    assert ch.complete_frames() == [b"x"]
    assert ch.complete_frames() == []
    ch.receive_data(record[-1:])
    assert ch.complete_frames() == [b"x"]
    assert ch.buffered_input == 0


# -- StructPrefix --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["!I", ">H", "<Q", "B", "=L", "<H"])
def test_struct_records(fmt: str) -> None:
    payloads = [b"hello", b"", b"x" * 200]
    data = b"".join(struct.pack(fmt, len(p)) + p for p in payloads)
    assert frames_of(StructPrefix(fmt), data) == payloads


def test_struct_events_and_eof_lose_nothing() -> None:
    kind = StructPrefix("!H")
    ch = Channel(kind)
    ch.receive_data(b"\x00\x02ab\x00\x00\x00\x05abc")
    assert list(ch.events()) == [Data(b"ab"), Terminator(kind), Terminator(kind), Data(b"abc")]
    ch.receive_data(b"")
    assert list(ch.events()) == [ConnectionClosed()]
    ch = Channel(kind)
    ch.receive_data(b"\x00")  # half a header
    ch.receive_data(b"")
    assert list(ch.frames()) == []
    assert ch.trailing_data == b"\x00"
    assert list(ch.events()) == [Data(b"\x00"), ConnectionClosed()]


def test_struct_over_the_limit() -> None:
    ch = Channel(StructPrefix("!I"), max_record_size=10)
    ch.receive_data(struct.pack("!I", 11) + b"a" * 11 + struct.pack("!I", 10) + b"b" * 10)
    with pytest.raises(FrameTooLong) as info:
        list(ch.frames())
    assert (info.value.size, info.value.limit_name) == (11, "max_record_size")
    assert list(ch.frames()) == [b"b" * 10]


# -- DecimalPrefix -------------------------------------------------------------------------


def test_netstrings() -> None:
    assert frames_of(DecimalPrefix(), b"5:hello,0:,3:a,b,") == [b"hello", b"", b"a,b"]


def test_decimal_header_line() -> None:
    kind = DecimalPrefix(separator=b"\r\n", trailer=b"")
    assert frames_of(kind, b"5\r\nhello0\r\n3\r\nabc") == [b"hello", b"", b"abc"]
    ch = Channel(kind)
    ch.receive_data(b"2\r\nab0\r\n")
    assert list(ch.events()) == [Data(b"ab"), Terminator(kind), Terminator(kind)]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"x:", b"x"),
        (b":", b":"),
        (b"5;hello,", b"5;"),
        (b"1" * 20 + b":", b"1" * 20),
        (b"5:hello;", b";"),
    ],
)
def test_decimal_malformed(data: bytes, named: bytes) -> None:
    ch = Channel(DecimalPrefix())
    ch.receive_data(data)
    with pytest.raises(ProtocolError, match=re.escape(repr(named))):
        list(ch.frames())
    with pytest.raises(ProtocolError, match="unusable"):
        list(ch.frames())


def test_decimal_over_the_limit_names_the_announced_size() -> None:
    ch = Channel(DecimalPrefix(), max_record_size=3)
    ch.receive_data(b"99999:")
    with pytest.raises(FrameTooLong) as info:
        list(ch.frames())
    assert info.value.size == 99999
    assert info.value.limit_name == "max_record_size"


# -- max_record_size -----------------------------------------------------------------------


def test_max_record_size_argument_and_property() -> None:
    ch = Channel(b"\n")
    assert ch.max_record_size == DEFAULT_MAX_RECORD_SIZE
    assert ch.max_frame_size == DEFAULT_MAX_FRAME_SIZE
    ch.max_record_size = None
    assert ch.max_record_size is None
    with pytest.raises(ValueError, match="max_record_size must be >= 0"):
        Channel(max_record_size=-1)
    with pytest.raises(TypeError, match="max_record_size must be an int or None"):
        Channel(max_record_size="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_record_size must be >= 0"):
        ch.max_record_size = -2
    assert ch.max_record_size is None


def test_an_int_count_is_bounded_by_max_record_size_not_max_frame_size() -> None:
    ch = Channel(b"\n", max_frame_size=4, max_record_size=100)
    ch.receive_data(b"10\n" + b"x" * 10)
    assert next(ch.frames()) == b"10"
    ch.set_terminator(10)
    assert list(ch.frames()) == [b"x" * 10]
    ch.set_terminator(101)
    with pytest.raises(FrameTooLong) as info:
        ch.next_event()
    assert (info.value.size, info.value.limit_name) == (101, "max_record_size")


def test_a_new_record_limit_applies_to_the_next_header() -> None:
    ch = Channel(MarkedLines(), max_record_size=100)
    ch.receive_data(b"$10\r\nabc")
    assert ch.next_event() == Data(b"abc")
    ch.max_record_size = 2  # the record in progress keeps its size
    ch.max_frame_size = 1
    ch.receive_data(b"defghij\r\n$3\r\n")
    assert ch.next_event() == Data(b"defghij")
    assert ch.next_event() == Terminator(MarkedLines())
    with pytest.raises(FrameTooLong) as info:
        ch.next_event()
    assert (info.value.size, info.value.limit) == (3, 2)


# -- switches ------------------------------------------------------------------------------


def test_switches_mid_buffer_are_exact() -> None:
    ch = Channel(b"\r\n")
    ch.receive_data(b"HELLO\r\n$2\r\nab\r\n\x00\x01z3:abc,5\r\ntail")
    assert next(ch.frames()) == b"HELLO"
    ch.set_terminator(MarkedLines())
    assert next(ch.frames()) == b"ab"
    ch.set_terminator(StructPrefix("!H"))
    assert next(ch.frames()) == b"z"
    ch.set_terminator(DecimalPrefix())
    assert next(ch.frames()) == b"abc"
    ch.set_terminator((b"\n",))
    assert next(ch.frames()) == b"5\r"
    ch.set_terminator(2)
    assert next(ch.frames()) == b"ta"
    ch.set_terminator(None)
    assert list(ch.events()) == [Data(b"il")]


def test_discard_buffers_keeps_the_kind() -> None:
    ch = Channel(MarkedLines())
    ch.receive_data(b"$5\r\nab")
    assert ch.next_event() == Data(b"ab")
    ch.discard_buffers()
    assert ch.get_terminator() == MarkedLines()
    ch.receive_data(b"$1\r\nz\r\n")
    assert list(ch.frames()) == [b"z"]


# -- a plain reference decoder, and every chunking against it ---------------------------------

Outcome = tuple[object, ...]


def _ref_count(data: bytes, p: int, after: bytes) -> tuple[str, int, int]:
    """Digits at *p*, then *after*: ("ok", n, end), ("need", 0, 0) or ("bad", end, 0)."""
    q = p
    while q < len(data) and q - p <= MAXD and data[q] in b"0123456789":
        q += 1
    if q - p > MAXD:
        return "bad", q, 0
    if q == len(data):
        return "need", 0, 0
    if q == p:
        return "bad", p + 1, 0
    for i, c in enumerate(after):
        if q + i == len(data):
            return "need", 0, 0
        if data[q + i] != c:
            return "bad", q + i + 1, 0
    return "ok", int(data[p:q]), q + len(after)


def reference(
    kind: RecordKind, data: bytes, frame_limit: int | None, record_limit: int | None
) -> list[Outcome]:
    """What frames() reports for all of *data* (no EOF), decoded the plain way."""
    flim = frame_limit if frame_limit is not None else sys.maxsize
    rlim = record_limit if record_limit is not None else sys.maxsize
    out: list[Outcome] = []

    def record(body: int, n: int, trailer: bytes) -> int | None:
        skipping = n > rlim
        if skipping:
            out.append(("long", "max_record_size", n))
        stop = body + n
        if stop > len(data):
            return None
        for i, c in enumerate(trailer):
            if stop + i == len(data):
                return None
            if data[stop + i] != c:
                out.append(("error", data[stop : stop + i + 1]))
                return None
        if not skipping:
            out.append(("frame", data[body:stop]))
        return stop + len(trailer)

    pos: int | None = 0
    while pos is not None:
        if isinstance(kind, StructPrefix):
            size = struct.calcsize(kind.fmt)
            if pos + size > len(data):
                break
            (n,) = struct.unpack_from(kind.fmt, data, pos)
            pos = record(pos + size, n, b"")
        elif isinstance(kind, DecimalPrefix):
            if pos == len(data):
                break
            state, a, b = _ref_count(data, pos, kind.separator)
            if state == "bad":
                out.append(("error", data[pos:a]))
            if state != "ok":
                break
            pos = record(b, a, kind.trailer)
        else:
            assert isinstance(kind, MarkedLines)
            marker, line = kind.marker, kind.line
            rest = data[pos:]
            if len(rest) <= len(marker):
                if rest == marker[: len(rest)]:
                    break  # not decided yet
            elif rest.startswith(marker) and rest[len(marker)] != ord("-"):
                state, a, b = _ref_count(data, pos + len(marker), line)
                if state == "bad":
                    out.append(("error", data[pos:a]))
                if state != "ok":
                    break
                pos = record(b, a, line)
                continue
            eol = data.find(line, pos)
            if eol < 0:
                held = max(k for k in range(len(line)) if k == 0 or rest.endswith(line[:k]))
                if len(rest) - held > flim:
                    out.append(("long", "max_frame_size", None))
                break
            if eol - pos > flim:
                out.append(("long", "max_frame_size", None))
            else:
                out.append(("frame", data[pos:eol]))
            pos = eol + len(line)
    return out


def _error_bytes(error: ProtocolError) -> bytes:
    found = re.search(r"record: (b(['\"]).*?\2) (?:has|does|is) ", str(error))
    assert found is not None, str(error)
    named = ast.literal_eval(found.group(1))
    assert type(named) is bytes
    return named


def run(
    kind: RecordKind,
    chunks: Sequence[bytes],
    api: str,
    frame_limit: int | None,
    record_limit: int | None,
) -> list[Outcome]:
    """Feed *chunks*, reading with *api* after each; the outcomes in order."""
    ch = Channel(kind, max_frame_size=frame_limit, max_record_size=record_limit)
    out: list[Outcome] = []
    current = b""
    for chunk in chunks:
        ch.receive_data(chunk)
        while True:
            try:
                if api == "frames":
                    out.extend(("frame", frame) for frame in ch.frames())
                    break
                if api == "complete":
                    got = ch.complete_frames()
                    out.extend(("frame", frame) for frame in got)
                    if not got:
                        break
                    continue
                for event in ch.events():
                    if type(event) is Data:
                        current += event.data
                    else:
                        assert type(event) is Terminator
                        out.append(("frame", current))
                        current = b""
                break
            except FrameTooLong as exc:
                current = b""
                size = exc.size if exc.limit_name == "max_record_size" else None
                out.append(("long", exc.limit_name, size))
            except ProtocolError as exc:
                out.append(("error", _error_bytes(exc)))
                return out
    return out


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    how = draw(st.sampled_from(["whole", "bytewise", "random"]))
    if how == "whole":
        return [data] if data else []
    if how == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=max(1, len(data) - 1)))))
    bounds = [0, *[c for c in cuts if c < len(data)], len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


PAYLOAD_BYTES = b"ab\r\n$:,5"
JUNK_BYTES = b"0123$-:,\r\nx"
payloads = st.binary(max_size=12).map(
    lambda raw: bytes(PAYLOAD_BYTES[b % len(PAYLOAD_BYTES)] for b in raw)
)
junk = st.binary(min_size=1, max_size=4).map(
    lambda raw: bytes(JUNK_BYTES[b % len(JUNK_BYTES)] for b in raw)
)


@st.composite
def streams(draw: st.DrawFn, kind: RecordKind) -> bytes:
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        payload = draw(payloads)
        choice = draw(st.integers(0, 9))
        if choice == 0:
            parts.append(draw(junk))
        elif isinstance(kind, StructPrefix):
            parts.append(struct.pack(kind.fmt, len(payload)) + payload)
        elif isinstance(kind, DecimalPrefix):
            parts.append(b"%d" % len(payload) + kind.separator + payload + kind.trailer)
        else:
            assert isinstance(kind, MarkedLines)
            if choice < 5:
                line = payload.replace(kind.line, b"")
                parts.append(line + kind.line)
            else:
                parts.append(kind.marker + b"%d" % len(payload) + kind.line + payload + kind.line)
    return b"".join(parts)


KINDS = [
    MarkedLines(),
    MarkedLines(marker=b"$$", line=b"\n"),
    StructPrefix("B"),
    StructPrefix("!H"),
    DecimalPrefix(),
    DecimalPrefix(separator=b"\r\n", trailer=b""),
]
small_limits = st.one_of(st.none(), st.integers(min_value=0, max_value=10))


@settings(max_examples=400)
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    api=st.sampled_from(["frames", "complete", "events"]),
    frame_limit=small_limits,
    record_limit=small_limits,
)
def test_every_chunking_and_api_matches_the_reference(
    kind: RecordKind,
    data: st.DataObject,
    api: str,
    frame_limit: int | None,
    record_limit: int | None,
) -> None:
    stream = data.draw(streams(kind))
    chunks = data.draw(chunked(stream))
    expected = reference(kind, stream, frame_limit, record_limit)
    assert run(kind, chunks, api, frame_limit, record_limit) == expected


@settings(max_examples=300)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_nothing_is_lost_at_eof(kind: RecordKind, data: st.DataObject) -> None:
    # With no error on the way, every byte after the last complete record is
    # reported as Data at EOF (a header read before EOF was consumed: the bytes
    # after it), and the channel then says ConnectionClosed.
    stream = data.draw(streams(kind))
    expected = reference(kind, stream, None, None)
    assume(all(outcome[0] == "frame" for outcome in expected))
    chunks = data.draw(chunked(stream))
    ch = Channel(kind, max_frame_size=None, max_record_size=None)
    frames: list[bytes] = []
    current = b""
    for chunk in [*chunks, b""]:
        ch.receive_data(chunk)
        for event in ch.events():
            if type(event) is Data:
                current += event.data
            elif type(event) is Terminator:
                frames.append(current)
                current = b""
    assert frames == [outcome[1] for outcome in expected]
    assert ch.next_event() == ConnectionClosed()
    assert ch.buffered_input == 0
    # The tail reported: the stream's end, after the last record (and any header).
    assert stream.endswith(current)
    tail = Channel(kind, max_frame_size=None, max_record_size=None)
    tail.receive_data(stream)
    tail.receive_data(b"")
    assert list(tail.frames()) == frames
    assert tail.trailing_data == current


def _one_record(kind: RecordKind | bytes | int | tuple[bytes, ...], payload: bytes) -> bytes:
    if isinstance(kind, StructPrefix):
        return struct.pack(kind.fmt, len(payload)) + payload
    if isinstance(kind, DecimalPrefix):
        return b"%d" % len(payload) + kind.separator + payload + kind.trailer
    if isinstance(kind, MarkedLines):
        return kind.marker + b"%d" % len(payload) + kind.line + payload + kind.line
    if isinstance(kind, bytes):
        return payload.replace(kind[:1], b"") + kind
    if isinstance(kind, tuple):
        return payload.replace(b"\n", b"").replace(b"\r", b"") + kind[-1]
    assert isinstance(kind, int)
    return payload.ljust(kind, b"p")[:kind]


SWITCH_KINDS: list[RecordKind | bytes | int | tuple[bytes, ...]] = [
    *KINDS,
    b"\n",
    b"\r\n",
    (b"\n", b"\r\n"),
    3,
    0,
]


@settings(max_examples=300)
@given(
    records=st.lists(st.tuples(st.sampled_from(SWITCH_KINDS), payloads), min_size=1, max_size=6),
    data=st.data(),
)
def test_switches_between_kinds_after_each_frame(
    records: list[tuple[RecordKind | bytes | int | tuple[bytes, ...], bytes]], data: st.DataObject
) -> None:
    # One frame of each terminator in turn, switched after each frame (bytes, int
    # and record kinds mixed): every chunking gives the frames encoded.
    expected = []
    stream = b""
    for kind, payload in records:
        encoded = _one_record(kind, payload)
        stream += encoded
        if isinstance(kind, bytes):
            payload = encoded[: -len(kind)]
        elif isinstance(kind, tuple):
            payload = encoded[: -len(kind[-1])]
        elif isinstance(kind, int):
            payload = encoded
        expected.append((kind, payload))
    chunks = data.draw(chunked(stream))
    ch = Channel(expected[0][0])
    got: list[tuple[RecordKind | bytes | int | tuple[bytes, ...], bytes]] = []
    for chunk in [*chunks, b""]:  # zero counts need no byte: read once more at the end
        ch.receive_data(chunk)
        for frame in ch.frames():
            got.append((expected[len(got)][0], frame))
            if len(got) < len(expected):
                ch.set_terminator(expected[len(got)][0])
            else:
                ch.set_terminator(None)
    assert got == expected
    assert ch.buffered_input == 0


def test_complete_frames_ends_a_record_whose_payload_was_read_as_an_event() -> None:
    # A record with no trailer, its payload reported by next_event(): every byte
    # is read, its end is not. complete_frames() reports it as frames() does (the
    # rest of the frame: nothing), not as "nothing unread, no frame".
    for read in (lambda ch: list(ch.frames()), lambda ch: ch.complete_frames()):
        ch = Channel(StructPrefix("B"))
        ch.receive_data(b"\x01a")
        assert ch.next_event() == Data(b"a")
        assert read(ch) == [b""]
        assert ch.next_event() is NEED_DATA


class UnbatchedChannel(Channel):
    """A channel whose batch window is always 0 bytes: it never splits ahead."""

    @property  # type: ignore[override]
    def _window(self) -> int:
        return 0

    @_window.setter
    def _window(self, value: int) -> None:
        pass


def _step(ch: Channel, op: str, arg: object) -> object:
    """One reading operation on *ch*, and what it gave (an exception, as a value)."""
    try:
        if op == "event":
            return ch.next_event()
        if op == "frame":
            return next(ch.frames(), None)
        if op == "complete":
            return ch.complete_frames(max_frames=1)
        if op == "buffered":
            return ch.buffered_input
        if op == "feed":
            ch.receive_data(arg)  # type: ignore[arg-type]
            return None
        ch.set_terminator(arg)  # type: ignore[arg-type]
        return None
    except (FrameTooLong, ProtocolError) as exc:
        return (type(exc), str(exc))


@settings(max_examples=500)
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    frame_limit=small_limits,
    record_limit=small_limits,
)
def test_batches_change_nothing_a_reader_can_see(
    kind: RecordKind, data: st.DataObject, frame_limit: int | None, record_limit: int | None
) -> None:
    # Two channels get the same reads and the same calls (events, frames one at
    # a time, complete_frames(1), buffered_input, terminator switches at any
    # point, between a record's Data and its Terminator too). One has a batch
    # window of 0 bytes, so it never splits ahead: the parsing path alone. The
    # other batches: every answer must be the same.
    stream = data.draw(streams(kind)) + data.draw(streams(kind))
    chunks = [*data.draw(chunked(stream)), b""]
    ops = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(["feed", "event", "event", "frame", "complete", "buffered", "set"]),
                st.sampled_from(SWITCH_KINDS),
            ),
            max_size=60,
        )
    )
    batching = Channel(kind, max_frame_size=frame_limit, max_record_size=record_limit)
    plain = UnbatchedChannel(kind, max_frame_size=frame_limit, max_record_size=record_limit)
    fed = 0
    for op, arg in ops:
        if op == "feed":
            if fed == len(chunks):
                continue
            arg = chunks[fed]
            fed += 1
        assert _step(batching, op, arg) == _step(plain, op, arg), (op, arg)
        # The reference never split ahead: at most one delimited frame's two events.
        assert plain._batch is None or len(plain._batch) <= 2
    assert batching.buffered_input == plain.buffered_input


def test_dropped_record_batches_cost_a_constant_factor_of_the_input() -> None:
    # Small records, then a large one, all in one read; after each frame the
    # terminator is switched away and back, dropping the batch each time. A batch
    # that copied every record it could reach would copy the large one once per
    # small record; bounded by its window (twice what a dropped batch delivered),
    # the copies stay a constant factor of the input.
    kind = StructPrefix("!I")
    data = (struct.pack("!I", 0) * 2000) + struct.pack("!I", 100_000) + b"p" * 100_000
    copied = 0
    split_all = type(Channel(kind)._reader).split_all

    def counting(
        reader: object,
        buf: bytearray,
        start: int,
        line_limit: int,
        record_limit: int,
        max_frames: int,
        bound: int,
    ) -> tuple[list[bytes], int]:
        nonlocal copied
        copied += min(len(buf), bound) - start  # the window each call copies
        return split_all(reader, buf, start, line_limit, record_limit, max_frames, bound)  # type: ignore[arg-type]

    ch = Channel(kind, max_record_size=None)
    ch.receive_data(data)
    frames = []
    original = type(ch._reader).split_all
    type(ch._reader).split_all = counting  # type: ignore[method-assign, assignment]
    try:
        while (frame := next(ch.frames(), None)) is not None:
            frames.append(frame)
            ch.set_terminator(b"\n")
            ch.set_terminator(kind)
    finally:
        type(ch._reader).split_all = original  # type: ignore[method-assign]
    assert len(frames) == 2001
    assert len(frames[-1]) == 100_000
    assert copied <= 4 * len(data), copied


# -- linear time -------------------------------------------------------------------------------

MIB = 1 << 20


def _drain_events(ch: Channel) -> None:
    for _ in ch.events():
        pass


def _drain_frames(ch: Channel) -> None:
    for _ in ch.frames():
        pass


def _drain_complete(ch: Channel) -> None:
    while ch.complete_frames():
        pass


def _records(kind: RecordKind, sizes: Sequence[int]) -> bytes:
    out = []
    for size in sizes:
        payload = b"\r" * size  # every byte could start a line end
        if isinstance(kind, StructPrefix):
            out.append(struct.pack(kind.fmt, size) + payload)
        elif isinstance(kind, DecimalPrefix):
            out.append(b"%d" % size + kind.separator + payload + kind.trailer)
        else:
            assert isinstance(kind, MarkedLines)
            out.append(b"$%d\r\n" % size + payload + b"\r\n" + b"line\r\n")
    return b"".join(out)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [MarkedLines(), StructPrefix("!I"), DecimalPrefix()], ids=repr)
@pytest.mark.parametrize(
    "read", [_drain_events, _drain_frames, _drain_complete], ids=["events", "frames", "complete"]
)
def test_work_is_linear_in_bytes(kind: RecordKind, read: Callable[[Channel], None]) -> None:
    # Records from 0 bytes to 1 MiB, in one read, then in 4 KiB reads, then a
    # 100 kB record one byte at a time.
    sizes = [0, 1, 10, 1000, 100_000, MIB, 3, 0]
    data = _records(kind, sizes) + _records(kind, [0] * 2000)
    for step in (len(data), 4096):
        CountingBuffer.work = 0
        ch = CountingChannel(kind, max_frame_size=None, max_record_size=None)
        for i in range(0, len(data), step):
            ch.receive_data(data[i : i + step])
            read(ch)
        assert ch.buffered_input == 0
        assert CountingBuffer.work <= 10 * len(data), (step, CountingBuffer.work)
    data = _records(kind, [100_000])
    CountingBuffer.work = 0
    ch = CountingChannel(kind, max_frame_size=None, max_record_size=None)
    for i in range(len(data)):
        ch.receive_data(data[i : i + 1])
        read(ch)
    assert ch.buffered_input == 0
    assert CountingBuffer.work <= 20 * len(data), CountingBuffer.work


@pytest.mark.parametrize(
    "read", [_drain_events, _drain_frames, _drain_complete], ids=["events", "frames", "complete"]
)
def test_a_long_line_trickling_in_stays_linear(read: Callable[[Channel], None]) -> None:
    data = b"x" * 50_000 + b"\r\n"
    ch = CountingChannel(MarkedLines(), max_frame_size=None)
    for i in range(len(data)):
        ch.receive_data(data[i : i + 1])
        read(ch)
    assert ch.buffered_input == 0
    assert CountingBuffer.work <= 20 * len(data), CountingBuffer.work


# -- through a Handler ----------------------------------------------------------------------


class RespStore(Handler):
    """A Redis-like store: whole commands from on_frames, no set_terminator call."""

    def __init__(self) -> None:
        super().__init__(terminator=MarkedLines(), max_frame_size=64, max_record_size=1 << 20)
        self.store: dict[bytes, bytes] = {}
        self.pending: list[bytes] = []
        self.batches = 0

    def on_frames(self, frames: list[bytes]) -> None:
        self.batches += 1
        self.pending += frames
        while self.pending:
            count = int(self.pending[0][1:])
            if len(self.pending) < 1 + count:
                return
            command = self.pending[1 : 1 + count]
            del self.pending[: 1 + count]
            if command[0] == b"SET":
                self.store[command[1]] = command[2]
                self.push(b"+OK\r\n")
            else:
                value = self.store.get(command[1])
                self.push(b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value))


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


@pytest.mark.parametrize("size", [0, 1, 100, 100_000])
def test_a_resp_store_parses_commands_through_on_frames(size: int) -> None:
    from asyncframe import Driver

    value = (b"a\r\n" * size)[:size]
    handler = RespStore()
    driver = Driver(handler)
    driver.start()
    stream = _command(b"SET", b"k", value) + _command(b"GET", b"k") + _command(b"GET", b"no")
    for i in range(0, len(stream), 7):
        driver.receive(stream[i : i + 7])
    assert driver.take(None) == b"+OK\r\n$%d\r\n%s\r\n$-1\r\n" % (size, value)
    assert handler.channel.get_terminator() == MarkedLines()
    driver.lost()


def test_a_handler_hears_records_on_data_and_on_terminator() -> None:
    from asyncframe import Driver

    kind = StructPrefix("B")
    heard: list[object] = []

    class Events(Handler):
        def on_data(self, data: bytes) -> None:
            heard.append(data)

        def on_terminator(self, terminator: object) -> None:
            heard.append(terminator)

    driver = Driver(Events(terminator=kind))
    driver.start()
    driver.receive(b"\x02hi\x00")
    assert heard == [b"hi", kind, kind]
    driver.lost()


def test_a_handler_hears_a_record_over_the_limit() -> None:
    from asyncframe import Driver

    errors: list[FrameTooLong] = []

    class Limited(Handler):
        def on_frame(self, frame: bytes) -> None:
            self.push(frame)

        def on_frame_too_long(self, error: FrameTooLong) -> None:
            errors.append(error)

    driver = Driver(Limited(terminator=DecimalPrefix(), max_record_size=3))
    driver.start()
    driver.receive(b"4:abcd,2:ok,")
    assert [(e.size, e.limit_name) for e in errors] == [(4, "max_record_size")]
    assert driver.take(None) == b"ok"
    driver.lost()


def test_a_framed_stream_takes_max_record_size() -> None:
    import trio.testing

    from asyncframe.adapters.trio import FramedStream

    left, _right = trio.testing.memory_stream_pair()
    stream = FramedStream(left, MarkedLines(), max_record_size=5)
    assert stream.channel.max_record_size == 5
    assert stream.channel.get_terminator() == MarkedLines()
