"""What the load-driving benchmarks share: the process's descriptor limit, and an asyncore listener.

The benchmarks live in the repository, not in the wheel, and use only asyncframe's
public API; these helpers are theirs.
"""

from __future__ import annotations

import resource
import socket
import warnings
from collections.abc import Callable
from pathlib import Path

with warnings.catch_warnings():
    # The stdlib asyncore (Python <= 3.11) warns on import; pyasyncore (3.12+) does not.
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore

__all__ = ["REPO_ROOT", "Listener", "asyncore", "raise_fd_limit"]

#: The checkout's root: subprocesses run ``python -m benchmarks...`` from there.
REPO_ROOT = Path(__file__).resolve().parents[1]


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Listener(asyncore.dispatcher):
    """A listening TCP dispatcher in *map_* that hands each accepted socket to *on_accept*."""

    def __init__(
        self,
        address: tuple[str, int],
        map_: dict[int, asyncore.dispatcher],
        on_accept: Callable[[socket.socket], object],
        *,
        backlog: int,
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
