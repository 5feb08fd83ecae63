"""Two limits of asyncore/asynchat that the drop-in keeps, and the way out of each.

* After the peer's EOF (a half-close), ``dispatcher.recv()`` calls ``handle_close()``,
  which closes the socket: output still queued is dropped, on the classic class and
  on the drop-in alike.
* ``asyncore.loop()`` uses ``select()`` unless ``use_poll=True``; ``select()`` cannot
  watch a descriptor numbered 1024 or more.
"""

from __future__ import annotations

import fcntl
import resource
import socket
import warnings
from typing import Any

import pytest

from asyncframe.adapters import asynchat as ours

from .test_against_stdlib import classic, make

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore


@pytest.mark.parametrize("module", [ours, classic], ids=["drop-in", "classic"])
def test_half_close_drops_queued_output_as_asynchat_did(module: Any) -> None:
    steps = [("nothing", None), ("push", b"0123456789")]  # collect, then found
    chat = make(module, [b"CMD\r\n"], [4, 0], b"\r\n", steps)
    chat.handle_read()  # the reply: 4 bytes go out, 6 stay queued
    assert bytes(chat.sock_.wire) == b"0123"
    assert list(chat.producer_fifo) == [b"456789"]
    chat.handle_read()  # EOF: recv() returns b"" and the dispatcher closes
    assert chat.sock_.closed
    assert ("handle_close",) in chat.log
    assert bytes(chat.sock_.wire) == b"0123"
    chat.del_channel()


class Lines(ours.async_chat):
    def __init__(self, sock: socket.socket, chat_map: dict[int, Any]) -> None:
        super().__init__(sock, map=chat_map)
        self.set_terminator(b"\r\n")
        self.lines: list[bytes] = []

    def collect_incoming_data(self, data: bytes) -> None:
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        self.lines.append(self._get_data())


def high_descriptor(sock: socket.socket, at_least: int) -> socket.socket:
    """A duplicate of *sock* numbered *at_least* or more (skips if the limit forbids it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= at_least + 16:
        pytest.skip(f"the hard descriptor limit ({hard}) is too low for this test")
    if soft != resource.RLIM_INFINITY and soft <= at_least + 16:
        resource.setrlimit(resource.RLIMIT_NOFILE, (at_least + 64, hard))
    fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, at_least)
    return socket.socket(fileno=fd)


def test_select_cannot_watch_descriptor_1024_and_use_poll_can() -> None:
    ours_end, peer = socket.socketpair()
    high = high_descriptor(ours_end, 1100)
    ours_end.close()
    chat_map: dict[int, Any] = {}
    chat = Lines(high, chat_map)
    try:
        assert chat.socket.fileno() >= 1024
        peer.sendall(b"HELO\r\n")
        with pytest.raises(ValueError, match="filedescriptor out of range"):
            asyncore.loop(timeout=1.0, map=chat_map, count=1)
        for _ in range(100):
            if chat.lines:
                break
            asyncore.loop(timeout=1.0, map=chat_map, count=1, use_poll=True)
        assert chat.lines == [b"HELO"]
    finally:
        chat.close()
        peer.close()
