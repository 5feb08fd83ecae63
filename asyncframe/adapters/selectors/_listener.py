"""A listening socket of the selectors :class:`~asyncframe.adapters.selectors.Loop`."""

from __future__ import annotations

import logging
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import TYPE_CHECKING

from asyncframe import AcceptBackoff
from asyncframe._driver import Options
from asyncframe.adapters._checks import nodelay

from ._connection import HANDSHAKE, PHASE_OPEN, Connection

if TYPE_CHECKING:
    from ._loop import Loop

__all__ = ["Listener"]

logger = logging.getLogger("asyncframe.adapters.selectors")

#: The most connections accepted per readiness event, so one busy listener does
#: not starve the connections already open.
ACCEPTS_PER_EVENT = 64


class Listener:
    """A listening socket, what it makes for each connection, and its accept backoff."""

    __slots__ = ("backoff", "factory", "loop", "opts", "paused", "sock", "ssl")

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        factory: Callable[[], object],
        opts: Options,
        ssl: ssl_module.SSLContext | None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.factory = factory
        self.opts = opts
        self.ssl = ssl
        self.backoff = AcceptBackoff(logger)
        #: True while accepting is paused (out of descriptors).
        self.paused = False

    def accept(self) -> None:
        """Accept the connections waiting (up to :data:`ACCEPTS_PER_EVENT`) and serve each."""
        server = self.sock
        backoff = self.backoff
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, _ = server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                delay = backoff.failed(exc)
                if delay is None:
                    continue
                # Out of descriptors: stop listening a while, the backlog holds them.
                self.loop.pause_listener(self, delay)
                return
            backoff.succeeded()
            sock.setblocking(False)
            nodelay(sock)
            self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        if self.ssl is None:
            Connection(self.loop, sock, self.opts, PHASE_OPEN, factory=self.factory).open()
            return
        try:
            tls = self.ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:  # the peer is gone already
            logger.debug("TLS setup failed: %r", exc)
            sock.close()
            return
        Connection(self.loop, tls, self.opts, HANDSHAKE, factory=self.factory).begin_handshake()
