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
import os
import signal
import socket
import subprocess
import sys
import time
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
Runner = Callable[["Room", str, int, Ready, bool], None]


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


def _serve_selectors(room: Room, host: str, port: int, ready: Ready, reuse_port: bool) -> None:
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop, _sigterm(lambda signum, frame: loop.stop()):
        ready(*loop.listen(lambda: ChatHandler(room), host, port, reuse_port=reuse_port))
        loop.run()


def _serve_asyncio(room: Room, host: str, port: int, ready: Ready, reuse_port: bool) -> None:
    import asyncio

    from asyncframe.adapters.asyncio import serve as asyncio_serve

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        server = await asyncio_serve(lambda: ChatHandler(room), host, port, reuse_port=reuse_port)
        async with server:
            ready(*server.sockets[0].getsockname()[:2])
            await stop.wait()

    asyncio.run(main())


def _serve_trio(room: Room, host: str, port: int, ready: Ready, reuse_port: bool) -> None:
    import trio

    from asyncframe.adapters._checks import listening_socket
    from asyncframe.adapters.trio import run_handler

    async def handle(stream: trio.SocketStream) -> None:
        await run_handler(ChatHandler(room), stream)

    async def main() -> None:
        # Bind outside the nursery, so a bind error is a plain OSError.
        listeners: list[trio.SocketListener]
        if reuse_port:
            sock = listening_socket(host, port, 4096, reuse_port=True)
            listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]
        else:
            listeners = await trio.open_tcp_listeners(port, host=host)
        ready(*listeners[0].socket.getsockname()[:2])
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.serve_listeners, handle, listeners)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)


def _serve_asynchat(room: Room, host: str, port: int, ready: Ready, reuse_port: bool) -> None:
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


_RUNNERS: dict[str, Runner] = {
    "selectors": _serve_selectors,
    "asyncio": _serve_asyncio,
    "trio": _serve_trio,
    "asynchat": _serve_asynchat,
}


#: The adapters that can share a port between processes (``--workers``).
SHARED_PORT_ADAPTERS = ("selectors", "asyncio", "trio")


def serve(
    adapter: str,
    host: str,
    port: int,
    terminator: bytes,
    out: TextIO,
    *,
    worker: bool = False,
) -> int:
    """Serve the chat on *adapter* until Ctrl-C or SIGTERM; return the exit status.

    A *worker* (one of ``--workers N``) sets ``reuse_port`` and names its process
    in the greeting. Errors such as an address already in use propagate as
    :exc:`OSError`.
    """

    def log(text: str) -> None:
        print(text, file=out, flush=True)

    def ready(bound_host: str, bound_port: int) -> None:
        log(
            f"asyncframe chat ({adapter}) listening on {bound_host}:{bound_port}"
            f" -- try: nc {bound_host} {bound_port}   (Ctrl-C stops)"
        )

    name = f"{adapter}, worker pid {os.getpid()}" if worker else adapter
    with suppress(KeyboardInterrupt):
        _RUNNERS[adapter](Room(terminator, name, log), host, port, ready, worker)
    log("stopped")
    return 0


def serve_workers(
    adapter: str, host: str, port: int, terminator: bytes, workers: int, out: TextIO
) -> int:
    """Serve the chat from *workers* processes on one port (``SO_REUSEPORT``: the
    system shares the connections between them; each process has a room of its
    own) until Ctrl-C or SIGTERM; return the exit status."""

    def log(text: str) -> None:
        print(text, file=out, flush=True)

    # Hold the port (bound, not listening: it gets no connections) while the
    # workers bind it, so that port 0 picks one port for all of them.
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    procs: list[subprocess.Popen[str]] = []
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    # Ctrl-C and SIGTERM only ask the loop below to end: the workers are stopped
    # (and waited for) whenever the signal comes.
    previous = signal.signal(signal.SIGINT, stop), signal.signal(signal.SIGTERM, stop)
    try:
        probe.bind((host, port))
        bound_port = probe.getsockname()[1]
        escaped = terminator.decode("latin-1").encode("unicode_escape").decode("ascii")
        command = [sys.executable, "-m", "asyncframe", "serve", "--adapter", adapter]
        command += ["--host", host, "--port", str(bound_port), "--terminator", escaped]
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [*command, "--worker"], stdout=subprocess.PIPE, text=True, bufsize=1
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            if "listening on" not in proc.stdout.readline():
                raise OSError(f"a worker did not start (exit status {proc.wait()})")
        probe.close()
        log(
            f"asyncframe chat ({adapter}) listening on {host}:{bound_port} with {workers}"
            f" workers (pids {', '.join(str(p.pid) for p in procs)})"
            f" -- try: nc {host} {bound_port}   (Ctrl-C stops)"
        )
        while not stopping and all(proc.poll() is None for proc in procs):
            time.sleep(0.2)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        probe.close()
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log("stopped")
    return 0
