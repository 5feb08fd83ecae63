"""The asyncore side of the command line: the listener that demo, serve and bench share."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable

with warnings.catch_warnings():
    # The stdlib asyncore (Python <= 3.11) warns on import; pyasyncore (3.12+) does not.
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore

__all__ = ["Listener", "asyncore"]


class Listener(asyncore.dispatcher):
    """A listening TCP dispatcher in *map_* that hands each accepted socket to *on_accept*."""

    def __init__(
        self,
        address: tuple[str, int],
        map_: dict[int, asyncore.dispatcher],
        on_accept: Callable[[socket.socket], object],
        *,
        backlog: int = 128,
    ) -> None:
        super().__init__(map=map_)
        self._on_accept = on_accept
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(address)
        self.listen(backlog)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        assert self.socket is not None
        host, port = self.socket.getsockname()[:2]
        return host, port

    def handle_accepted(self, sock: socket.socket, addr: object) -> None:
        self._on_accept(sock)
