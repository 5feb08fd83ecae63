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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from asyncframe import Handler

__all__ = ["BACKENDS", "MAX_LINE", "ChatHandler", "Room", "serve"]

BACKENDS = ("selectors", "asyncio", "trio", "asynchat")
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


class _Line:
    """The bytes of the line being received, capped at :data:`MAX_LINE`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> bool:
        """Append *data*; return False once the line is too long."""
        self.size += len(data)
        if self.size > MAX_LINE:
            self.parts.clear()
            return False
        self.parts.append(data)
        return True

    def take(self) -> bytes:
        """Return the line and start the next one."""
        line = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        return line


class ChatHandler(Handler):
    """One chat member, as a :class:`~asyncframe.Handler` (selectors, asyncio, trio)."""

    def __init__(self, room: Room, backend: str) -> None:
        super().__init__(terminator=room.terminator)
        self.room = room
        self.backend = backend
        self.name = ""
        self._line = _Line()
        self._done = False

    def on_connect(self) -> None:
        self.name = self.room.join(self.push)
        self.push(self.room.greeting(self.name, self.backend))

    def on_data(self, data: bytes) -> None:
        if not self._done and not self._line.add(data):
            self._leave(self.room.too_long())

    def on_terminator(self, terminator: bytes | int) -> None:
        self._finish_line()

    def on_eof(self) -> None:
        if self._line.size:  # a last line without its terminator
            self._finish_line()

    def on_close(self) -> None:
        self.room.leave(self.name)

    def _finish_line(self) -> None:
        line = self._line.take()
        if not self._done and not self.room.handle_line(self.name, line):
            self._leave(b"")

    def _leave(self, last_words: bytes) -> None:
        self._done = True
        self.room.leave(self.name)
        if last_words:
            self.push(last_words)
        self.close_when_done()


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
        ready(*loop.listen((host, port), lambda: ChatHandler(room, "selectors")))
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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore

    class ChatChannel(asynchat.async_chat):
        def __init__(self, sock: Any, map_: dict[int, Any]) -> None:
            super().__init__(sock, map=map_)
            self.set_terminator(room.terminator)
            self.line = _Line()
            self.done = False
            self.name = room.join(self.push)
            self.push(room.greeting(self.name, "asynchat"))

        def collect_incoming_data(self, data: bytes) -> None:
            if not self.done and not self.line.add(data):
                self.leave(room.too_long())

        def found_terminator(self) -> None:
            line = self.line.take()
            if not self.done and not room.handle_line(self.name, line):
                self.leave(b"")

        def leave(self, last_words: bytes) -> None:
            self.done = True
            room.leave(self.name)
            if last_words:
                self.push(last_words)
            self.close_when_done()

        def handle_close(self) -> None:
            if self.line.size and not self.done:  # a last line without its terminator
                self.found_terminator()
                self.initiate_send()
            room.leave(self.name)
            self.close()

    class Listener(asyncore.dispatcher):
        def __init__(self, map_: dict[int, Any]) -> None:
            super().__init__(map=map_)
            self.map_ = map_
            self.create_socket()
            self.set_reuse_addr()
            self.bind((host, port))
            self.listen(128)

        def handle_accepted(self, sock: Any, addr: Any) -> None:
            ChatChannel(sock, self.map_)

    stopping: list[int] = []
    map_: dict[int, Any] = {}
    with _sigterm(lambda signum, frame: stopping.append(signum)):
        try:
            listener: Any = Listener(map_)  # its socket is typed Optional
            ready(*listener.socket.getsockname()[:2])
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
