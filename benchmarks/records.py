"""Record kinds against their peers: length-prefixed records split in the core.

Every contender gets the very same list of 64 KiB reads, in one process, and
collects every record's payload:

- ``StructPrefix("!I")`` records of 8, 50 and 1,000 bytes through ``frames()``,
  against Twisted's ``Int32StringReceiver`` (target 2x) and an asyncio
  ``readexactly`` loop (target 3x);
- netstrings (``DecimalPrefix()``) of 8 and 50 bytes against Twisted's
  ``NetstringReceiver`` (target 3x);
- a ``b"%d\\r\\n"`` header before each payload (``DecimalPrefix(b"\\r\\n", b"")``),
  8 and 50 bytes, through ``frames()`` (target 3x) and ``next_event()``
  (target 1.5x), against the stdlib ``asynchat`` switching its terminator twice
  per record (the asynchat docs' pattern);
- RESP (``MarkedLines()``): ``SET`` commands (arrays of bulk strings, each
  command assembled as a list) and ``GET`` replies (bulk strings), against
  redis-py's pure-Python parser (target 1.2x) and, with no target, hiredis's C
  parser (the ceiling).

Peers that are not importable are left out, with a note.

Run: ``python -m benchmarks --only records`` from a checkout.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from functools import partial
from typing import Any

from asyncframe import NEED_DATA, Channel, Data, DecimalPrefix, MarkedLines, StructPrefix

from .common import OnResult, Result, compare
from .inbound import stdlib_asynchat

__all__ = ["missing_peers", "run"]

READ = 65536


def _reads(data: bytes) -> list[bytes]:
    return [data[i : i + READ] for i in range(0, len(data), READ)]


def struct_chunks(total: int, size: int) -> tuple[list[bytes], int]:
    record = struct.pack("!I", size) + b"p" * size
    n = total // len(record)
    return _reads(record * n), n


def netstring_chunks(total: int, size: int) -> tuple[list[bytes], int]:
    record = b"%d:" % size + b"p" * size + b","
    n = total // len(record)
    return _reads(record * n), n


def header_chunks(total: int, size: int) -> tuple[list[bytes], int]:
    record = b"%d\r\n" % size + b"p" * size
    n = total // len(record)
    return _reads(record * n), n


def resp_set_chunks(total: int) -> tuple[list[bytes], int]:
    command = b"*3\r\n$3\r\nSET\r\n$8\r\nkey:0042\r\n$16\r\nvalue-0123456789\r\n"
    n = total // len(command)
    return _reads(command * n), n


def resp_reply_chunks(total: int) -> tuple[list[bytes], int]:
    reply = b"$16\r\nvalue-0123456789\r\n"
    n = total // len(reply)
    return _reads(reply * n), n


# -- asyncframe -----------------------------------------------------------------------


def asyncframe_frames(chunks: list[bytes], kind: Any) -> int:
    """Every record's payload through ``frames()``; return how many."""
    ch = Channel(kind)
    out: list[bytes] = []
    append = out.append
    receive = ch.receive_data
    frames = ch.frames
    for chunk in chunks:
        receive(chunk)
        for frame in frames():
            append(frame)
    return len(out)


def asyncframe_next_event(chunks: list[bytes], kind: Any) -> int:
    """Every record's payload through a ``next_event()`` loop; return how many."""
    ch = Channel(kind)
    receive = ch.receive_data
    next_event = ch.next_event
    parts: list[bytes] = []
    out: list[bytes] = []
    for chunk in chunks:
        receive(chunk)
        while True:
            event = next_event()
            if event is NEED_DATA:
                break
            if type(event) is Data:
                parts.append(event.data)
            else:
                out.append(b"".join(parts))
                parts.clear()
    return len(out)


def asyncframe_resp_commands(chunks: list[bytes]) -> int:
    """Every RESP command as a list of its arguments (``complete_frames()``)."""
    ch = Channel(MarkedLines())
    receive = ch.receive_data
    complete = ch.complete_frames
    commands: list[list[bytes]] = []
    args: list[bytes] = []
    need = 0
    for chunk in chunks:
        receive(chunk)
        for frame in complete():
            if need:
                args.append(frame)
                need -= 1
                if not need:
                    commands.append(args)
            else:
                need = int(frame[1:])  # the array header "*N"
                args = []
    return len(commands)


def asyncframe_resp_replies(chunks: list[bytes]) -> int:
    """Every bulk-string reply (``complete_frames()``)."""
    ch = Channel(MarkedLines())
    receive = ch.receive_data
    complete = ch.complete_frames
    out: list[bytes] = []
    for chunk in chunks:
        receive(chunk)
        out += complete()
    return len(out)


# -- peers ------------------------------------------------------------------------------


def twisted_receiver(chunks: list[bytes], name: str) -> Callable[[], int] | None:
    """A runner of Twisted's ``Int32StringReceiver`` or ``NetstringReceiver``, or None."""
    try:
        from twisted.internet.testing import StringTransport
        from twisted.protocols import basic
    except ImportError:
        return None
    base: Any = getattr(basic, name)

    class Receiver(base):  # type: ignore[misc]
        MAX_LENGTH = 1 << 24

        def stringReceived(self, string: bytes) -> None:
            self.out.append(string)

    def runner() -> int:
        proto: Any = Receiver()
        proto.out = []
        transport: Any = StringTransport
        proto.makeConnection(transport())
        received = proto.dataReceived
        for chunk in chunks:
            received(chunk)
        return len(proto.out)

    return runner


def asyncio_readexactly(chunks: list[bytes]) -> Callable[[], int]:
    """A runner of an asyncio ``readexactly`` loop over ``!I``-prefixed records."""

    async def main() -> int:
        reader = asyncio.StreamReader(limit=1 << 24)
        out: list[bytes] = []

        async def feed() -> None:
            for chunk in chunks:
                reader.feed_data(chunk)
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.create_task(feed())
        readexactly = reader.readexactly
        unpack = struct.Struct("!I").unpack
        while True:
            try:
                (size,) = unpack(await readexactly(4))
                out.append(await readexactly(size))
            except asyncio.IncompleteReadError:
                break
        await feeder
        return len(out)

    loop = asyncio.new_event_loop()
    _LOOPS.append(loop)

    def runner() -> int:
        return loop.run_until_complete(main())

    return runner


#: The event loops the asyncio peers run on, closed at the end of :func:`run`.
_LOOPS: list[asyncio.AbstractEventLoop] = []


class _Feed:
    """A socket for redis-py's ``SocketBuffer``: recv() hands out the reads in order."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks[::-1]

    def recv(self, size: int) -> bytes:
        return self.chunks.pop()

    def settimeout(self, timeout: object) -> None:
        pass


def redis_python(chunks: list[bytes], expected: int) -> Callable[[], int] | None:
    """A runner of redis-py's pure-Python RESP2 parser over *chunks*, or None."""
    try:
        from redis._parsers.resp2 import _RESP2Parser
        from redis._parsers.socket import SocketBuffer
    except ImportError:
        return None

    def runner() -> int:
        make: Any = _RESP2Parser
        parser: Any = make(READ)
        parser._buffer = SocketBuffer(_Feed(chunks), READ, None)  # type: ignore[arg-type]
        read = parser.read_response
        out = [read(disable_decoding=True) for _ in range(expected)]
        return len(out)

    return runner


def hiredis_reader(chunks: list[bytes]) -> Callable[[], int] | None:
    """A runner of hiredis's C parser over *chunks*, or None."""
    try:
        import hiredis
    except ImportError:
        return None

    def runner() -> int:
        reader = hiredis.Reader()
        feed = reader.feed
        gets = reader.gets
        out: list[Any] = []
        for chunk in chunks:
            feed(chunk)
            while (reply := gets()) is not False:
                out.append(reply)
        return len(out)

    return runner


# -- the suite --------------------------------------------------------------------------


def _run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Run the record benchmarks and return their results (each also given to *on_result*)."""
    rounds = repeat if repeat is not None else (3 if quick else 5)
    total = (1 << 19) if quick else (1 << 21)
    results: list[Result] = []

    def check(label: str, func: Callable[[], int], expected: int) -> Callable[[], int]:
        got = func()
        if got != expected:
            raise AssertionError(f"{label} framed {got} records, expected {expected}")
        return func

    def row(
        name: str,
        ours: Callable[[], int],
        peer: str,
        theirs: Callable[[], int] | None,
        target: float | None,
        expected: int,
    ) -> None:
        if theirs is None:
            return
        check(peer, theirs, expected)
        result = compare(name, ours, peer, theirs, repeat=rounds, target=target)
        results.append(result)
        if on_result is not None:
            on_result(result)

    for size in (8, 50, 1000):
        chunks, n = struct_chunks(total, size)
        ours = check("struct", partial(asyncframe_frames, chunks, StructPrefix("!I")), n)
        name = f"frames(), StructPrefix('!I') {size}-byte records"
        row(
            name,
            ours,
            "Twisted Int32StringReceiver",
            twisted_receiver(chunks, "Int32StringReceiver"),
            2.0,
            n,
        )
        row(name, ours, "asyncio readexactly loop", asyncio_readexactly(chunks), 3.0, n)
    for size in (8, 50):
        chunks, n = netstring_chunks(total, size)
        ours = check("netstrings", partial(asyncframe_frames, chunks, DecimalPrefix()), n)
        row(
            f"frames(), netstrings of {size} bytes",
            ours,
            "Twisted NetstringReceiver",
            twisted_receiver(chunks, "NetstringReceiver"),
            3.0,
            n,
        )
    header = DecimalPrefix(b"\r\n", b"")
    for size in (8, 50):
        chunks, n = header_chunks(total, size)
        peer = stdlib_asynchat(chunks, prefixed=True)
        name = f"%d\\r\\n header, {size}-byte payloads"
        frames = check("header frames", partial(asyncframe_frames, chunks, header), n)
        events = check("header next_event", partial(asyncframe_next_event, chunks, header), n)
        row(f"frames(), {name}", frames, "stdlib asynchat handle_read", peer, 3.0, n)
        row(f"next_event(), {name}", events, "stdlib asynchat handle_read", peer, 1.5, n)
    chunks, n = resp_set_chunks(total)
    ours = check("RESP commands", partial(asyncframe_resp_commands, chunks), n)
    name = "RESP SET commands, MarkedLines()"
    row(name, ours, "redis-py Python parser", redis_python(chunks, n), 1.2, n)
    row(name, ours, "hiredis (C), the ceiling", hiredis_reader(chunks), None, n)
    replies, m = resp_reply_chunks(total)
    ours = check("RESP replies", partial(asyncframe_resp_replies, replies), m)
    name = "RESP bulk-string replies, MarkedLines()"
    row(name, ours, "redis-py Python parser", redis_python(replies, m), 1.2, m)
    row(name, ours, "hiredis (C), the ceiling", hiredis_reader(replies), None, m)
    return results


def run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Run the record benchmarks and return their results (each also given to *on_result*)."""
    try:
        return _run(quick, repeat, on_result)
    finally:
        while _LOOPS:
            _LOOPS.pop().close()


def missing_peers() -> list[str]:
    """Name the peers that could not be imported (their rows are left out)."""
    missing = []
    if twisted_receiver([], "Int32StringReceiver") is None:
        missing.append('Twisted (pip install "asyncframe[bench]")')
    if stdlib_asynchat([]) is None:
        missing.append("stdlib asynchat (removed in Python 3.12)")
    if redis_python([], 0) is None:
        missing.append('redis-py (pip install "asyncframe[bench]")')
    if hiredis_reader([]) is None:
        missing.append('hiredis (pip install "asyncframe[bench]")')
    return missing
