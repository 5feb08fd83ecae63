"""Record kinds against the peers that parse the same length-prefixed input.

- RESP commands (``SET key value`` as arrays of bulk strings) under
  :class:`~asyncframe.MarkedLines` with ``complete_frames()``, against redis-py's
  pure-Python RESP2 parser (if redis-py is installed) reading the same bytes from
  a socket stub, and hiredis's C parser as the ceiling (if installed; no target);
- struct-prefixed records (``!I`` lengths; 8, 50 and 1,000 bytes) under
  :class:`~asyncframe.StructPrefix` with ``complete_frames()``, against an
  asyncio ``StreamReader.readexactly`` loop;
- netstrings (8 bytes) under :class:`~asyncframe.DecimalPrefix` with
  ``complete_frames()``, against an asyncio ``readuntil`` + ``readexactly`` loop;
- ``%d\\r\\n`` headers (8 bytes) under ``DecimalPrefix(b"\\r\\n", b"")`` with
  ``frames()`` and with ``next_event()``, against the stdlib ``asynchat`` switching
  its terminator twice per record (if it is importable).

Every input is cut into 64 KiB reads. Run: ``python -m benchmarks --only records``.
"""

from __future__ import annotations

import asyncio
import struct
import warnings
from collections.abc import Callable
from typing import Any

from asyncframe import NEED_DATA, Channel, Data, DecimalPrefix, MarkedLines, StructPrefix

from .common import OnResult, Result, compare

__all__ = ["run"]

READ = 65536


def _reads(data: bytes) -> list[bytes]:
    return [data[i : i + READ] for i in range(0, len(data), READ)]


def resp_commands(count: int) -> bytes:
    """*count* RESP ``SET`` commands with 9-byte keys and 11-byte values."""
    return b"".join(
        b"*3\r\n$3\r\nSET\r\n$9\r\nkey%06d\r\n$11\r\nvalue%06d\r\n" % (i, i) for i in range(count)
    )


def struct_records(count: int, size: int) -> bytes:
    return (struct.pack("!I", size) + b"p" * size) * count


# -- asyncframe ---------------------------------------------------------------------------


def complete_frames(kind: Any, chunks: list[bytes]) -> Callable[[], int]:
    """A runner of ``complete_frames()`` under *kind* over *chunks*; returns the frames."""

    def runner() -> int:
        ch = Channel(kind)
        receive = ch.receive_data
        split = ch.complete_frames
        frames = 0
        for chunk in chunks:
            receive(chunk)
            frames += len(split())
        return frames

    return runner


def frames(kind: Any, chunks: list[bytes]) -> Callable[[], int]:
    """A runner of ``frames()`` under *kind* over *chunks*."""

    def runner() -> int:
        ch = Channel(kind)
        receive = ch.receive_data
        out: list[bytes] = []
        for chunk in chunks:
            receive(chunk)
            out.extend(ch.frames())
        return len(out)

    return runner


def next_event(kind: Any, chunks: list[bytes]) -> Callable[[], int]:
    """A runner of a ``next_event()`` loop under *kind*, joining each payload's Data."""

    def runner() -> int:
        ch = Channel(kind)
        receive = ch.receive_data
        event_of = ch.next_event
        parts: list[bytes] = []
        frames = 0
        for chunk in chunks:
            receive(chunk)
            while (event := event_of()) is not NEED_DATA:
                if type(event) is Data:
                    parts.append(event.data)
                else:
                    b"".join(parts)
                    parts.clear()
                    frames += 1
        return frames

    return runner


# -- the peers ------------------------------------------------------------------------------


class _StubSocket:
    """What redis-py's SocketBuffer reads from: the next chunk per ``recv``."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks[::-1]

    def recv(self, size: int) -> bytes:
        return self._chunks.pop()

    def settimeout(self, timeout: object) -> None:
        pass


def redis_py(chunks: list[bytes], commands: int) -> Callable[[], int] | None:
    """A runner of redis-py's pure-Python RESP2 parser over *chunks*, or None."""
    try:
        from redis._parsers.resp2 import _RESP2Parser
        from redis._parsers.socket import SocketBuffer
    except ImportError:
        return None

    def runner() -> int:
        parser: Any = _RESP2Parser(socket_read_size=READ)  # type: ignore[no-untyped-call]
        parser._buffer = SocketBuffer(_StubSocket(chunks), READ, None)  # type: ignore[arg-type, unused-ignore]
        read = parser.read_response
        frames = 0
        for _ in range(commands):
            frames += 1 + len(read(disable_decoding=True))
        return frames

    return runner


def hiredis_reader(chunks: list[bytes]) -> Callable[[], int] | None:
    """A runner of hiredis's C reader over *chunks*, or None."""
    try:
        import hiredis  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None

    def runner() -> int:
        reader: Any = hiredis.Reader()
        frames = 0
        for chunk in chunks:
            reader.feed(chunk)
            while (reply := reader.gets()) is not False:
                frames += 1 + len(reply)
        return frames

    return runner


#: The event loops the asyncio peers run on, closed at the end of :func:`run`.
_LOOPS: list[asyncio.AbstractEventLoop] = []


def _asyncio_runner(main: Callable[[asyncio.StreamReader], Any], chunks: list[bytes]) -> Any:
    loop = asyncio.new_event_loop()
    _LOOPS.append(loop)

    async def go() -> int:
        reader = asyncio.StreamReader(limit=1 << 20)

        async def feed() -> None:
            for chunk in chunks:
                reader.feed_data(chunk)
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.create_task(feed())
        count: int = await main(reader)
        await feeder
        return count

    def runner() -> int:
        return loop.run_until_complete(go())

    return runner


def asyncio_readexactly(chunks: list[bytes]) -> Callable[[], int]:
    """An asyncio loop of ``readexactly(4)`` then ``readexactly(n)`` over *chunks*."""
    unpack = struct.Struct("!I").unpack

    async def main(reader: asyncio.StreamReader) -> int:
        out: list[bytes] = []
        readexactly = reader.readexactly
        while True:
            try:
                (size,) = unpack(await readexactly(4))
            except asyncio.IncompleteReadError:
                return len(out)
            out.append(await readexactly(size))

    runner: Callable[[], int] = _asyncio_runner(main, chunks)
    return runner


def asyncio_netstrings(chunks: list[bytes]) -> Callable[[], int]:
    """An asyncio loop of ``readuntil(b":")`` then ``readexactly(n + 1)`` over *chunks*."""

    async def main(reader: asyncio.StreamReader) -> int:
        out: list[bytes] = []
        readuntil = reader.readuntil
        readexactly = reader.readexactly
        while True:
            try:
                header = await readuntil(b":")
            except asyncio.IncompleteReadError:
                return len(out)
            out.append((await readexactly(int(header[:-1]) + 1))[:-1])

    runner: Callable[[], int] = _asyncio_runner(main, chunks)
    return runner


def stdlib_asynchat(chunks: list[bytes]) -> Callable[[], int] | None:
    """The stdlib ``async_chat`` reading ``%d\\r\\n`` headers then counts, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asynchat
    except ImportError:
        return None

    class Chat(asynchat.async_chat):
        def __init__(self) -> None:
            super().__init__(sock=None, map={})
            self.set_terminator(b"\r\n")
            self.ac_in_buffer_size = READ
            self.parts: list[bytes] = []
            self.frames = 0
            self.header = True
            self.feed: list[bytes] = []

        def recv(self, buffer_size: int) -> bytes:
            return self.feed.pop()

        def collect_incoming_data(self, data: bytes) -> None:
            self.parts.append(data)

        def found_terminator(self) -> None:
            frame = b"".join(self.parts)
            self.parts.clear()
            if self.header:
                self.set_terminator(int(frame))
            else:
                self.frames += 1
                self.set_terminator(b"\r\n")
            self.header = not self.header

    def runner() -> int:
        chat = Chat()
        chat.feed = chunks[::-1]
        for _ in range(len(chunks)):
            chat.handle_read()
        return chat.frames

    return runner


# -- the suite ------------------------------------------------------------------------------


def run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Time each record kind against its peers; a peer not installed is left out."""
    try:
        return _run(quick, repeat, on_result)
    finally:
        while _LOOPS:
            _LOOPS.pop().close()


def _run(quick: bool, repeat: int | None, on_result: OnResult | None) -> list[Result]:
    rounds = repeat if repeat is not None else (3 if quick else 5)
    scale = 1 if quick else 4
    results: list[Result] = []

    def row(
        name: str,
        ours: Callable[[], int],
        peer: str,
        theirs: Callable[[], int] | None,
        expected: int,
        target: float | None,
    ) -> None:
        if theirs is None:
            return
        for label, func in (("asyncframe", ours), (peer, theirs)):
            got = func()
            if got != expected:
                raise AssertionError(f"{name}: {label} read {got} frames, not {expected}")
        result = compare(name, ours, peer, theirs, repeat=rounds, target=target)
        results.append(result)
        if on_result is not None:
            on_result(result)

    commands = 5_000 * scale
    resp = _reads(resp_commands(commands))
    ours = complete_frames(MarkedLines(), resp)
    name = "RESP SET commands, MarkedLines, complete_frames()"
    row(name, ours, "redis-py RESP2 parser", redis_py(resp, commands), 4 * commands, 1.2)
    row(name, ours, "hiredis (C)", hiredis_reader(resp), 4 * commands, None)

    for size, count in ((8, 25_000), (50, 15_000), (1000, 2_000)):
        records = _reads(struct_records(count * scale, size))
        row(
            f"!I-prefixed {size}-byte records, StructPrefix, complete_frames()",
            complete_frames(StructPrefix("!I"), records),
            "asyncio readexactly loop",
            asyncio_readexactly(records),
            count * scale,
            3.0,
        )

    count = 25_000 * scale
    netstrings = _reads(b"8:pppppppp," * count)
    row(
        "8-byte netstrings, DecimalPrefix, complete_frames()",
        complete_frames(DecimalPrefix(), netstrings),
        "asyncio readuntil+readexactly",
        asyncio_netstrings(netstrings),
        count,
        None,
    )

    headers = _reads(b"8\r\npppppppp" * count)
    kind = DecimalPrefix(separator=b"\r\n", trailer=b"")
    peer = stdlib_asynchat(headers)
    row(
        "8-byte %d\\r\\n headers, DecimalPrefix, frames()",
        frames(kind, headers),
        "stdlib asynchat",
        peer,
        count,
        3.0,
    )
    row(
        "8-byte %d\\r\\n headers, DecimalPrefix, next_event()",
        next_event(kind, headers),
        "stdlib asynchat",
        peer,
        count,
        1.5,
    )
    return results
