"""``python -m asyncframe serve``: a line-based chat/echo server to talk to with ``nc``.

Every line a client sends comes back to it, and goes to every other connected
client prefixed with the sender's name (``[guest2] hello``). ``/who`` lists who is
connected; ``/quit`` says goodbye and closes. With the default ``\\n`` terminator a
trailing ``\\r`` is dropped from each line, so ``telnet`` (which sends ``\\r\\n``)
works as well as ``nc``. A line longer than :data:`MAX_LINE` bytes gets an error
reply and the connection is closed.

The same :class:`Room` runs on every backend: :class:`ChatHandler` on the selectors,
asyncio and trio adapters, and an ``async_chat`` port of it on the drop-in. Ctrl-C
(SIGINT) or SIGTERM stops the server cleanly.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from asyncframe import Handler

__all__ = ["MAX_LINE", "ChatHandler", "Room", "serve"]

#: The longest line the chat accepts, in bytes (terminator excluded).
MAX_LINE = 4096

Ready = Callable[[str, int], None]


class Room:
    """Who is connected: hands out names and relays lines between members."""

    def __init__(self, terminator: bytes) -> None:
        self.terminator = terminator
        self.members: dict[str, Callable[[bytes], None]] = {}
        self._numbers = itertools.count(1)

    def join(self, send: Callable[[bytes], None]) -> str:
        """Add a member that receives lines through *send*; return its name."""
        name = f"guest{next(self._numbers)}"
        self.members[name] = send
        return name

    def leave(self, name: str) -> None:
        """Remove *name*, if present."""
        self.members.pop(name, None)

    def greeting(self, name: str, backend: str) -> bytes:
        """Return the line a new member sees first."""
        return (
            f"welcome {name}: asyncframe chat on {backend}; lines are echoed and shared"
            " with the others; /who lists them, /quit leaves"
        ).encode() + self.terminator

    def too_long(self) -> bytes:
        """Return the reply to a line over :data:`MAX_LINE` bytes."""
        return b"error: line longer than %d bytes; closing" % MAX_LINE + self.terminator

    def handle_line(self, name: str, line: bytes) -> bool:
        """Act on one line from *name*; return False if the member asked to leave."""
        if self.terminator == b"\n" and line.endswith(b"\r"):
            line = line[:-1]
        send = self.members[name]
        term = self.terminator
        if line == b"/quit":
            send(b"bye" + term)
            return False
        if line == b"/who":
            send(b"connected: " + " ".join(self.members).encode() + term)
            return True
        send(line + term)
        relayed = b"[" + name.encode() + b"] " + line + term
        for other, deliver in self.members.items():
            if other != name:
                deliver(relayed)
        return True


class _Member:
    """One connection in the room, whatever runs it: its name, the line it is sending
    (capped at :data:`MAX_LINE`), and what to do with each complete line."""

    def __init__(
        self,
        room: Room,
        backend: str,
        push: Callable[[bytes], None],
        close_when_done: Callable[[], None],
    ) -> None:
        self.room = room
        self._push = push
        self._close_when_done = close_when_done
        self.parts: list[bytes] = []
        self.size = 0
        self.done = False
        self.name = room.join(push)
        push(room.greeting(self.name, backend))

    def data(self, data: bytes) -> None:
        """Collect part of the current line; leave with an error once it is too long."""
        if self.done:
            return
        self.size += len(data)
        if self.size > MAX_LINE:
            self.parts.clear()
            self.leave(self.room.too_long())
            return
        self.parts.append(data)

    def end_of_line(self) -> None:
        """Act on the line collected so far, and start the next one."""
        line = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        if not self.done and not self.room.handle_line(self.name, line):
            self.leave(b"")

    def leave(self, last_words: bytes) -> None:
        """Leave the room: send *last_words* (if any), then close once output is out."""
        self.done = True
        self.room.leave(self.name)
        if last_words:
            self._push(last_words)
        self._close_when_done()


class ChatHandler(Handler):
    """One chat member, as a :class:`~asyncframe.Handler` (selectors, asyncio, trio)."""

    def __init__(self, room: Room, backend: str) -> None:
        super().__init__(terminator=room.terminator)
        self.room = room
        self.backend = backend
        self._member: _Member | None = None

    def on_connect(self) -> None:
        self._member = _Member(self.room, self.backend, self.push, self.close_when_done)

    def on_data(self, data: bytes) -> None:
        assert self._member is not None
        self._member.data(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        assert self._member is not None
        self._member.end_of_line()

    def on_eof(self) -> None:
        assert self._member is not None
        if self._member.size:  # a last line without its terminator
            self._member.end_of_line()

    def on_close(self) -> None:
        if self._member is not None:
            self.room.leave(self._member.name)


# -- one runner per backend: serve *room* on (host, port) until stopped --------------------


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
        ready(*loop.listen(lambda: ChatHandler(room, "selectors"), host, port))
        loop.run()


def _serve_asyncio(room: Room, host: str, port: int, ready: Ready) -> None:
    import asyncio

    from asyncframe.adapters.asyncio import serve as asyncio_serve

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        server = await asyncio_serve(lambda: ChatHandler(room, "asyncio"), host, port)
        async with server:
            ready(*server.sockets[0].getsockname()[:2])
            await stop.wait()

    asyncio.run(main())


def _serve_trio(room: Room, host: str, port: int, ready: Ready) -> None:
    import trio

    from asyncframe.adapters.trio import run_handler

    async def handle(stream: trio.SocketStream) -> None:
        await run_handler(ChatHandler(room, "trio"), stream)

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
        def __init__(self, sock: Any, map_: dict[int, Any]) -> None:
            super().__init__(sock, map=map_)
            self.set_terminator(room.terminator)
            self.member = _Member(room, "asynchat", self.push, self.close_when_done)

        def collect_incoming_data(self, data: bytes) -> None:
            self.member.data(data)

        def found_terminator(self) -> None:
            self.member.end_of_line()

        def handle_close(self) -> None:
            if self.member.size and not self.member.done:  # a last line without its terminator
                self.member.end_of_line()
                self.initiate_send()
            room.leave(self.member.name)
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


def serve(backend: str, host: str, port: int, terminator: bytes, out: TextIO) -> int:
    """Serve the chat on *backend* until Ctrl-C or SIGTERM; return the exit status.

    Errors such as an address already in use propagate as :exc:`OSError`.
    """
    room = Room(terminator)

    def ready(bound_host: str, bound_port: int) -> None:
        print(
            f"asyncframe chat ({backend}) listening on {bound_host}:{bound_port}"
            f" -- try: nc {bound_host} {bound_port}   (Ctrl-C stops)",
            file=out,
            flush=True,
        )

    with suppress(KeyboardInterrupt):
        _RUNNERS[backend](room, host, port, ready)
    print("stopped", file=out, flush=True)
    return 0
