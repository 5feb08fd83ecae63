"""A real exchange over loopback: drop-in async_chat server and client under asyncore.loop,
sharing the channel map with a plain asyncore.dispatcher."""

from __future__ import annotations

import socket
import time
import warnings

from asyncframe.adapters import asynchat

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore


class LineServerChannel(asynchat.async_chat):
    """Answers ``ECHO x`` with ``x``, ``SIZE n`` + n bytes with their sum, ``QUIT``."""

    def __init__(self, sock: socket.socket, chat_map: dict[int, object]) -> None:
        super().__init__(sock, map=chat_map)
        self.set_terminator(b"\r\n")

    def collect_incoming_data(self, data: bytes) -> None:
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        line = self._get_data()
        if isinstance(self.get_terminator(), int):  # a counted body just completed
            self.push(b"SUM %d\r\n" % sum(line))
            self.set_terminator(b"\r\n")
            return
        cmd, _, arg = line.partition(b" ")
        if cmd == b"ECHO":
            self.push(arg + b"\r\n")
        elif cmd == b"SIZE":
            self.set_terminator(int(arg))
        elif cmd == b"QUIT":
            self.push(b"BYE\r\n")
            self.close_when_done()


class LineServer(asyncore.dispatcher):
    def __init__(self, chat_map: dict[int, object]) -> None:
        super().__init__(map=chat_map)
        self.chat_map = chat_map
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(5)
        self.port = self.socket.getsockname()[1]

    def handle_accepted(self, sock: socket.socket, addr: object) -> None:
        LineServerChannel(sock, self.chat_map)


class Client(asynchat.async_chat):
    def __init__(self, port: int, chat_map: dict[int, object], script: list[bytes]) -> None:
        super().__init__(map=chat_map)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(("127.0.0.1", port))
        self.set_terminator(b"\r\n")
        self.replies: list[bytes] = []
        for piece in script:
            self.push(piece)

    def handle_connect(self) -> None:
        pass

    def collect_incoming_data(self, data: bytes) -> None:
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        self.replies.append(self._get_data())


class Ticker(asyncore.dispatcher):
    """A plain dispatcher in the same map: a socketpair end that counts what it reads."""

    def __init__(self, sock: socket.socket, chat_map: dict[int, object]) -> None:
        super().__init__(sock, map=chat_map)
        self.received = b""

    def handle_read(self) -> None:
        self.received += self.recv(100)

    def writable(self) -> bool:
        return False


def test_server_and_client_talk_under_asyncore_loop() -> None:
    chat_map: dict[int, object] = {}
    server = LineServer(chat_map)
    body = bytes(range(256)) * 4
    script = [b"ECHO hel", b"lo\r\nECHO wor", b"ld\r", b"\n", b"SIZE %d\r\n" % len(body), body]
    script.append(b"QUIT\r\n")
    client = Client(server.port, chat_map, script)
    left, right = socket.socketpair()
    ticker = Ticker(left, chat_map)
    right.sendall(b"tick")
    try:
        deadline = time.monotonic() + 10
        while b"BYE" not in client.replies and time.monotonic() < deadline:
            asyncore.loop(timeout=0.05, map=chat_map, count=1)
        assert client.replies == [b"hello", b"world", b"SUM %d" % sum(body), b"BYE"]
        assert ticker.received == b"tick"
    finally:
        right.close()
        for dispatcher in list(chat_map.values()):
            dispatcher.close()  # type: ignore[attr-defined]
        assert chat_map == {}
