"""``python -m asyncframe serve``: a line-based chat/echo server to talk to with ``nc``.

Every line a client sends comes back to it, and goes to every other connected
client prefixed with the sender's name (``[guest2] hello``). ``/who`` lists who is
connected; ``/quit`` says goodbye and closes. With the default ``\\n`` terminator a
trailing ``\\r`` is dropped from each line, so ``telnet`` (which sends ``\\r\\n``)
works as well as ``nc``. A line longer than :data:`MAX_LINE` bytes gets an error
reply and the connection is closed. A member whose unsent output passes
:data:`MAX_QUEUED` bytes has stopped reading: it is dropped, the others are told,
and the server logs it, so one such member cannot make the server's memory grow.

The same :class:`Room` runs on every adapter: :class:`ChatHandler` on the selectors,
asyncio and trio adapters, and an ``async_chat`` port of it on the drop-in. Ctrl-C
(SIGINT) or SIGTERM stops the server cleanly.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from asyncframe import FrameTooLong, Handler

__all__ = ["MAX_LINE", "MAX_QUEUED", "ChatHandler", "Member", "Room", "serve"]

#: The longest line the chat accepts, in bytes (terminator excluded).
MAX_LINE = 4096
#: The most bytes of output that may wait for one member; past it the member is dropped.
MAX_QUEUED = 1 << 20

Ready = Callable[[str, int], None]


class Member:
    """One connection in the room, whatever adapter runs it.

    :param push: queue bytes for the member.
    :param queued: how many bytes wait to be sent to the member.
    :param close_when_done: close once the queued bytes are sent.
    :param abort: close now, dropping what is queued.
    """

    def __init__(
        self,
        push: Callable[[bytes], None],
        queued: Callable[[], int],
        close_when_done: Callable[[], None],
        abort: Callable[[], None],
    ) -> None:
        self.push = push
        self.queued = queued
        self.close_when_done = close_when_done
        self.abort = abort
        self.name = ""
        #: True once the member left or was dropped: its later lines are ignored.
        self.done = False


class Room:
    """Who is connected: hands out names, relays lines, drops members that stop reading.

    :param terminator: the line terminator.
    :param adapter: the adapter's name, for the greeting.
    :param log: called with one line of text for each member dropped.
    """

    def __init__(self, terminator: bytes, adapter: str, log: Callable[[str], None]) -> None:
        self.terminator = terminator
        self.adapter = adapter
        self.log = log
        self.members: dict[str, Member] = {}
        self._numbers = itertools.count(1)
        self._over: list[Member] = []

    def join(self, member: Member) -> None:
        """Name *member*, add it and greet it."""
        member.name = f"guest{next(self._numbers)}"
        self.members[member.name] = member
        self._send(
            member,
            f"welcome {member.name}: asyncframe chat on {self.adapter}; lines are echoed"
            " and shared with the others; /who lists them, /quit leaves".encode(),
        )
        self._drop_the_slow()

    def leave(self, member: Member, last_words: bytes = b"") -> None:
        """Remove *member*: send *last_words* (if any), then close once its output is out."""
        if member.done:
            return
        member.done = True
        self.members.pop(member.name, None)
        if last_words:
            member.push(last_words + self.terminator)
        member.close_when_done()

    def gone(self, member: Member) -> None:
        """The member's connection has ended: remove it, if still present."""
        member.done = True
        self.members.pop(member.name, None)

    def line(self, member: Member, line: bytes) -> None:
        """Act on one line from *member*."""
        if member.done:
            return
        if self.terminator == b"\n" and line.endswith(b"\r"):
            line = line[:-1]
        if line == b"/quit":
            self.leave(member, b"bye")
            return
        if line == b"/who":
            self._send(member, b"connected: " + " ".join(self.members).encode())
        else:
            self._send(member, line)
            self._broadcast(b"[" + member.name.encode() + b"] " + line, but=member)
        self._drop_the_slow()

    def too_long(self, member: Member) -> None:
        """*member* sent a line over :data:`MAX_LINE` bytes: tell it, and close."""
        self.leave(member, b"error: line longer than %d bytes; closing" % MAX_LINE)

    def _send(self, member: Member, text: bytes) -> None:
        member.push(text + self.terminator)
        if member.queued() > MAX_QUEUED:
            self._over.append(member)

    def _broadcast(self, text: bytes, but: Member | None = None) -> None:
        for other in list(self.members.values()):
            if other is not but:
                self._send(other, text)

    def _drop_the_slow(self) -> None:
        # A drop notice can push another member over the bound: go on until none is.
        while self._over:
            member = self._over.pop(0)
            if member.done:
                continue
            waiting = member.queued()
            self.gone(member)
            member.abort()
            self.log(
                f"dropped {member.name}: {waiting} bytes of output waiting (it stopped reading)"
            )
            self._broadcast(b"* " + member.name.encode() + b" was dropped: it stopped reading")


class ChatHandler(Handler):
    """One chat member, as a :class:`~asyncframe.Handler` (selectors, asyncio, trio).

    It takes whole lines (:meth:`on_frame`); the Handler's ``max_frame_size`` is
    :data:`MAX_LINE`, so a longer line arrives as :meth:`on_frame_too_long`.
    """

    def __init__(self, room: Room) -> None:
        super().__init__(terminator=room.terminator, max_frame_size=MAX_LINE)
        self.room = room
        self.member = Member(
            self.push, lambda: self.buffered_output, self.close_when_done, self.close
        )

    def on_connect(self) -> None:
        self.room.join(self.member)

    def on_frame(self, frame: bytes) -> None:
        self.room.line(self.member, frame)

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        self.room.too_long(self.member)

    def on_eof(self) -> None:
        tail = self.channel.trailing_data
        if tail:  # a last line without its terminator
            self.room.line(self.member, tail)

    def on_close(self) -> None:
        self.room.gone(self.member)


# -- one runner per adapter: serve *room* on (host, port) until stopped --------------------


@contextmanager
def _sigterm(handler: Callable[[int, Any], None]) -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_selectors(room: Room, host: str, port: int, ready: Ready) -> None:
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop, _sigterm(lambda signum, frame: loop.stop()):
        ready(*loop.listen(lambda: ChatHandler(room), host, port))
        loop.run()


def _serve_asyncio(room: Room, host: str, port: int, ready: Ready) -> None:
    import asyncio

    from asyncframe.adapters.asyncio import serve as asyncio_serve

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        server = await asyncio_serve(lambda: ChatHandler(room), host, port)
        async with server:
            ready(*server.sockets[0].getsockname()[:2])
            await stop.wait()

    asyncio.run(main())


def _serve_trio(room: Room, host: str, port: int, ready: Ready) -> None:
    import trio

    from asyncframe.adapters.trio import run_handler

    async def handle(stream: trio.SocketStream) -> None:
        await run_handler(ChatHandler(room), stream)

    async def main() -> None:
        # Bind outside the nursery, so a bind error is a plain OSError.
        listeners = await trio.open_tcp_listeners(port, host=host)
        ready(*listeners[0].socket.getsockname()[:2])
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.serve_listeners, handle, listeners)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)


def _serve_asynchat(room: Room, host: str, port: int, ready: Ready) -> None:
    from asyncframe.adapters import asynchat

    from ._dropin import Listener, asyncore

    class ChatChannel(asynchat.async_chat):
        """The classic way: the line in pieces, capped at MAX_LINE by hand, and the
        bytes waiting counted from what was pushed and what ``send()`` sent."""

        def __init__(self, sock: Any, map_: dict[int, Any]) -> None:
            super().__init__(sock, map=map_)
            self.set_terminator(room.terminator)
            self.parts: list[bytes] = []
            self.size = 0
            self.pushed = self.sent = 0
            self.member = Member(
                self.push, lambda: self.pushed - self.sent, self.close_when_done, self.close
            )
            room.join(self.member)

        def push(self, data: bytes | bytearray | memoryview) -> None:
            self.pushed += len(data)
            super().push(data)

        def send(self, data: Any) -> int:
            sent: int = super().send(data)
            self.sent += sent
            return sent

        def collect_incoming_data(self, data: bytes) -> None:
            if self.member.done:
                return
            self.size += len(data)
            if self.size > MAX_LINE:
                self.parts.clear()
                room.too_long(self.member)
                return
            self.parts.append(data)

        def found_terminator(self) -> None:
            line = b"".join(self.parts)
            self.parts.clear()
            self.size = 0
            room.line(self.member, line)

        def handle_close(self) -> None:
            if self.size and not self.member.done:  # a last line without its terminator
                self.found_terminator()
                self.initiate_send()
            room.gone(self.member)
            self.close()

    stopping: list[int] = []
    map_: dict[int, Any] = {}
    with _sigterm(lambda signum, frame: stopping.append(signum)):
        try:
            listener = Listener((host, port), map_, lambda sock: ChatChannel(sock, map_))
            ready(*listener.address)
            while not stopping:
                asyncore.loop(timeout=0.2, map=map_, count=1)
        finally:
            asyncore.close_all(map_)


_RUNNERS: dict[str, Callable[[Room, str, int, Ready], None]] = {
    "selectors": _serve_selectors,
    "asyncio": _serve_asyncio,
    "trio": _serve_trio,
    "asynchat": _serve_asynchat,
}


def serve(adapter: str, host: str, port: int, terminator: bytes, out: TextIO) -> int:
    """Serve the chat on *adapter* until Ctrl-C or SIGTERM; return the exit status.

    Errors such as an address already in use propagate as :exc:`OSError`.
    """

    def log(text: str) -> None:
        print(text, file=out, flush=True)

    def ready(bound_host: str, bound_port: int) -> None:
        log(
            f"asyncframe chat ({adapter}) listening on {bound_host}:{bound_port}"
            f" -- try: nc {bound_host} {bound_port}   (Ctrl-C stops)"
        )

    with suppress(KeyboardInterrupt):
        _RUNNERS[adapter](Room(terminator, adapter, log), host, port, ready)
    log("stopped")
    return 0
