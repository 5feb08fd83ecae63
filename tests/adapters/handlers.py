"""Handler protocols shared by the adapter tests: each runs unchanged on every adapter.

The line protocol (terminator ``b"\\n"``):

- ``ECHO <text>`` → ``<text>\\n``
- ``BLOB <n>``: the next ``n`` bytes are a binary blob → ``GOT <n> <sum of bytes>\\n``
- ``BIG <n>`` → ``n`` bytes of ``b"x"`` then ``\\n``, from a producer pulled in 4 KiB pieces
  (``pulled`` counts the bytes the producer handed out, for backpressure tests)
- ``QUIT`` → ``BYE\\n`` then close_when_done()
- ``BOOM`` raises inside the callback (the adapter must log it and close this connection only)
- anything else → ``ERR\\n``

At EOF an unterminated tail ``<text>`` is answered ``TAIL <text>\\n`` before the close.
"""

from __future__ import annotations

from collections.abc import Iterator

from asyncframe import Handler


class LineHandler(Handler):
    """The test protocol above; records what happened for assertions."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\n", max_frame_size=1 << 20)
        self.parts: list[bytes] = []
        self.lines: list[bytes] = []
        self.events: list[str] = []
        self.pulled = 0
        self.peak_buffered = 0  # the most output ever queued (read backpressure tests)
        self.closed = False  # on_close ran

    def on_connect(self) -> None:
        self.events.append("connect")

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        line = b"".join(self.parts)
        self.parts.clear()
        if isinstance(terminator, int):
            self.push(b"GOT %d %d\n" % (len(line), sum(line)))
            self.set_terminator(b"\n")
            return
        self.lines.append(line)
        cmd, _, arg = line.partition(b" ")
        if cmd == b"ECHO":
            self.push(arg + b"\n")
            self.peak_buffered = max(self.peak_buffered, self.buffered_output)
        elif cmd == b"BLOB":
            self.set_terminator(int(arg))
        elif cmd == b"BIG":
            self.push_with_producer(self._big(int(arg)))
            self.push(b"\n")
        elif cmd == b"QUIT":
            self.push(b"BYE\n")
            self.close_when_done()
        elif cmd == b"BOOM":
            raise RuntimeError("BOOM requested by the peer")
        else:
            self.push(b"ERR\n")

    def _big(self, n: int) -> Iterator[bytes]:
        piece = b"x" * 4096
        while n > 0:
            chunk = piece[: min(n, 4096)]
            n -= len(chunk)
            self.pulled += len(chunk)
            yield chunk

    def on_close(self) -> None:
        if self.parts:
            # A frame was left unterminated: expected after a reset, a bug after a
            # half-close (the tail must reach on_data, then be answered, first).
            self.events.append("unterminated")
        self.events.append("close")
        self.closed = True


class TailReplyHandler(LineHandler):
    """Like LineHandler, but answers an unterminated tail at EOF with ``TAIL <tail>``."""

    def on_eof(self) -> None:
        tail = b"".join(self.parts)
        self.parts.clear()
        self.events.append("eof")
        self.push(b"TAIL " + tail + b"\n")


class BigReplies(Handler):
    """Answers every line with a 256 KiB reply; records the most output ever queued."""

    REPLY = 256 * 1024

    def __init__(self) -> None:
        super().__init__(terminator=b"\n")
        self.peak = 0
        self.requests = 0
        self.closed = False  # on_close ran

    def on_close(self) -> None:
        self.closed = True

    def on_frame(self, frame: bytes) -> None:
        self.requests += 1
        self.push(b"x" * self.REPLY)
        self.peak = max(self.peak, self.buffered_output)


class EndlessFeed(Handler):
    """Answers any line with an endless producer (a live feed); counts what it pulled.

    A subclass may set ``LENGTH`` to end the feed after that many bytes.
    """

    LENGTH: int | None = None

    def __init__(self) -> None:
        super().__init__(terminator=b"\n")
        self.pulled = 0
        self.closed = False  # on_close ran

    def on_frame(self, frame: bytes) -> None:
        self.push_with_producer(self._feed())

    def on_close(self) -> None:
        self.closed = True

    def _feed(self) -> Iterator[bytes]:
        piece = b"tick " * 800
        while self.LENGTH is None or self.pulled < self.LENGTH:
            self.pulled += len(piece)
            yield piece


class HugeThenQuit(Handler):
    """Answers any line with 5 MB, then close_when_done()."""

    SIZE = 5_000_000

    def __init__(self) -> None:
        super().__init__(terminator=b"\n")

    def on_frame(self, frame: bytes) -> None:
        self.push(b"z" * self.SIZE)
        self.close_when_done()
