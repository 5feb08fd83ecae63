"""``python -m asyncframe demo``: one small protocol, over loopback, on every adapter.

The protocol has both kinds of terminator. Lines end in ``\\r\\n``:

- ``HELLO <name>`` → ``WELCOME <name>``
- ``ECHO <text>`` → ``<text>``
- ``SIZE <n>`` switches to a byte-count terminator: the next *n* raw bytes are a
  blob, answered ``GOT <n> bytes, sum <sum>``, and lines resume
- ``QUIT`` → ``BYE``, then the server closes once the reply is out

The same :class:`DemoServer` and :class:`DemoClient` handlers run on the selectors,
asyncio and trio adapters; the classic ``async_chat`` drop-in runs a port of them
written the asynchat way. Every run is checked against the expected replies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from asyncframe import Handler

__all__ = ["DemoClient", "DemoServer", "Outcome", "run_demo"]

BLOB = bytes(range(1, 6))
REQUESTS: list[tuple[str, bytes]] = [
    ("HELLO ada", b"HELLO ada\r\n"),
    ("ECHO one, two, three", b"ECHO one, two, three\r\n"),
    (f"SIZE 5 + {BLOB!r}", b"SIZE 5\r\n" + BLOB),
    ("QUIT", b"QUIT\r\n"),
]
EXPECTED = [b"WELCOME ada", b"one, two, three", b"GOT 5 bytes, sum 15", b"BYE"]
TIMEOUT = 10.0


def answer(line: bytes) -> tuple[bytes, int | None, bool]:
    """Return the reply to a request line, the blob size it announces, and whether to quit."""
    command, _, argument = line.partition(b" ")
    if command == b"HELLO":
        return b"WELCOME " + argument, None, False
    if command == b"ECHO":
        return argument, None, False
    if command == b"SIZE" and argument.isdigit() and 0 < int(argument) <= 1 << 20:
        return b"", int(argument), False
    if command == b"QUIT":
        return b"BYE", None, True
    return b"ERR unknown command " + command[:20], None, False


def blob_reply(blob: bytes) -> bytes:
    """Return the reply to a blob."""
    return b"GOT %d bytes, sum %d" % (len(blob), sum(blob))


def on_frame(frame: bytes, blob: bool) -> tuple[bytes, int | bytes | None, bool]:
    """The server's move on a complete frame (a *blob* or a request line).

    Returns the bytes to send, the terminator to switch to (None: keep it) and
    whether to close once the reply is out.
    """
    if blob:
        return blob_reply(frame) + b"\r\n", b"\r\n", False
    reply, size, quit_ = answer(frame)
    if size is not None:
        return b"", size, False
    return reply + b"\r\n", None, quit_


class DemoServer(Handler):
    """The server side of the demo protocol, as a Handler."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\r\n")
        self._parts: list[bytes] = []

    def on_data(self, data: bytes) -> None:
        self._parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        frame = b"".join(self._parts)
        self._parts.clear()
        reply, switch_to, quit_ = on_frame(frame, blob=isinstance(terminator, int))
        if reply:
            self.push(reply)
        if switch_to is not None:
            self.set_terminator(switch_to)
        if quit_:
            self.close_when_done()


class DemoClient(Handler):
    """The client side: sends every request at once, collects the reply lines."""

    def __init__(self, on_close: Callable[[], object] = lambda: None) -> None:
        super().__init__(terminator=b"\r\n")
        self.replies: list[bytes] = []
        self._parts: list[bytes] = []
        self._on_close = on_close

    def on_connect(self) -> None:
        for _, wire in REQUESTS:
            self.push(wire)

    def on_data(self, data: bytes) -> None:
        self._parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.replies.append(b"".join(self._parts))
        self._parts.clear()

    def on_close(self) -> None:
        self._on_close()


def _on_selectors() -> list[bytes]:
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop:
        client = DemoClient(on_close=loop.stop)
        host, port = loop.listen(DemoServer, "127.0.0.1", 0)
        loop.connect(client, host, port)
        loop.run(timeout=TIMEOUT)
    return client.replies


def _on_asyncio() -> list[bytes]:
    import asyncio

    from asyncframe.adapters.asyncio import connect, serve

    async def main() -> list[bytes]:
        done = asyncio.Event()
        client = DemoClient(on_close=done.set)
        server = await serve(DemoServer, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            await connect(client, "127.0.0.1", port)
            await asyncio.wait_for(done.wait(), TIMEOUT)
        return client.replies

    return asyncio.run(main())


def _on_trio() -> list[bytes]:
    import trio

    from asyncframe.adapters.trio import connect, serve

    async def main() -> list[bytes]:
        client = DemoClient()
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(serve, DemoServer, 0)
                port = listeners[0].socket.getsockname()[1]
                await connect(client, "127.0.0.1", port)
                nursery.cancel_scope.cancel()
        return client.replies

    return trio.run(main)


def _on_asynchat() -> list[bytes]:
    from asyncframe.adapters import asynchat

    from ._dropin import Listener, asyncore

    class ChatServer(asynchat.async_chat):
        def __init__(self, sock: object, map_: dict[int, Any]) -> None:
            super().__init__(sock, map=map_)
            self.set_terminator(b"\r\n")
            self.parts: list[bytes] = []

        def collect_incoming_data(self, data: bytes) -> None:
            self.parts.append(data)

        def found_terminator(self) -> None:
            frame = b"".join(self.parts)
            self.parts.clear()
            reply, switch_to, quit_ = on_frame(frame, blob=isinstance(self.get_terminator(), int))
            if reply:
                self.push(reply)
            if switch_to is not None:
                self.set_terminator(switch_to)
            if quit_:
                self.close_when_done()

    class ChatClient(asynchat.async_chat):
        def __init__(self, address: tuple[str, int], map_: dict[int, Any]) -> None:
            super().__init__(map=map_)
            self.set_terminator(b"\r\n")
            self.parts: list[bytes] = []
            self.replies: list[bytes] = []
            self.done = False
            self.create_socket()
            self.connect(address)

        def handle_connect(self) -> None:
            for _, wire in REQUESTS:
                self.push(wire)

        def collect_incoming_data(self, data: bytes) -> None:
            self.parts.append(data)

        def found_terminator(self) -> None:
            self.replies.append(b"".join(self.parts))
            self.parts.clear()

        def handle_close(self) -> None:
            self.done = True
            self.close()

    map_: dict[int, Any] = {}
    listener = Listener(("127.0.0.1", 0), map_, lambda sock: ChatServer(sock, map_), backlog=5)
    client = ChatClient(listener.address, map_)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not client.done and time.monotonic() < deadline:
            asyncore.loop(timeout=0.05, map=map_, count=1)
    finally:
        asyncore.close_all(map_)
    return client.replies


def _trio_missing() -> str | None:
    from . import importable

    return None if importable("trio") else "trio is not installed (pip install 'asyncframe[trio]')"


ADAPTERS: dict[str, tuple[Callable[[], list[bytes]], Callable[[], str | None]]] = {
    "selectors": (_on_selectors, lambda: None),
    "asyncio": (_on_asyncio, lambda: None),
    "trio": (_on_trio, _trio_missing),
    "asynchat": (_on_asynchat, lambda: None),
}


@dataclass
class Outcome:
    """How the demo went on one adapter."""

    adapter: str
    ok: bool
    verdict: str
    replies: list[bytes] = field(default_factory=list)
    skipped: bool = False


def run_one(adapter: str) -> Outcome:
    """Run the demo on *adapter* and check the replies."""
    run, missing = ADAPTERS[adapter]
    reason = missing()
    if reason is not None:
        return Outcome(adapter, True, f"skipped: {reason}", skipped=True)
    start = time.perf_counter()
    try:
        replies = run()
    except Exception as exc:  # reported as this adapter's verdict
        return Outcome(adapter, False, f"FAILED: {type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - start
    if replies != EXPECTED:
        return Outcome(adapter, False, f"FAILED: expected {EXPECTED!r}, got {replies!r}", replies)
    return Outcome(
        adapter,
        True,
        f"ok: {len(replies)} replies exact, closed cleanly ({elapsed * 1e3:.1f} ms)",
        replies,
    )


def run_demo(adapters: list[str], out: TextIO) -> int:
    """Run the demo on each of *adapters*, print the conversations; return the exit status."""
    outcomes = []
    for adapter in adapters:
        outcome = run_one(adapter)
        outcomes.append(outcome)
        print(f"{adapter}:", file=out)
        if not outcome.skipped:
            replies = iter(outcome.replies)
            for shown, _ in REQUESTS:
                print(f"  client> {shown}", file=out)
                reply = next(replies, None)
                if reply is not None:
                    print(f"  server> {reply.decode('ascii', 'replace')}", file=out)
        print(f"  {outcome.verdict}", file=out)
    print(file=out)
    width = max(len(o.adapter) for o in outcomes)
    for outcome in outcomes:
        print(f"{outcome.adapter.ljust(width)}  {outcome.verdict}", file=out)
    return 0 if all(o.ok for o in outcomes) else 1
