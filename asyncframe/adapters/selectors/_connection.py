"""One connection of the selectors :class:`~asyncframe.adapters.selectors.Loop`.

A :class:`Connection` is a non-blocking socket (plain, or an :class:`ssl.SSLSocket`)
and, once the connection is up, the :class:`~asyncframe.Driver` of its handler: one
driver for its whole life. Its :class:`Phase` says what the socket is doing:
connecting (a client's TCP connect), the TLS handshake, open, closed. Everything a
connection decides is the driver's; this module maps the driver's answers to socket
calls and selector registrations.

Two things differ over TLS, both handled here: a receive may need to write first
(``SSLWantWriteError``) and a send to read first (``SSLWantReadError``), when the
peer renegotiates or updates its keys; and decrypted bytes may wait in the TLS
layer (``sock.pending()``), where no socket event will announce them.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
import selectors
import socket
import ssl as ssl_module
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from asyncframe import Handler
from asyncframe._driver import (
    ABORTING,
    DRAINING,
    OPEN,
    UPGRADING,
    Driver,
    Options,
    start_handler,
)
from asyncframe.adapters._checks import nodelay, upgrade_context

if TYPE_CHECKING:
    from ._loop import Loop, TimerHandle

__all__ = ["Connection", "Phase"]

logger = logging.getLogger("asyncframe.adapters.selectors")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
#: The most bytes handed to one ``send()``.
WRITE_SIZE = 65536

# The receive errors that mean "nothing to read now"; SSLWantReadError is a
# partial record, whose rest comes with the next event.
_NOTHING_YET = (BlockingIOError, InterruptedError, ssl_module.SSLWantReadError)


class Phase(enum.Enum):
    """What a connection's socket is doing."""

    #: A client's TCP connect is in progress.
    CONNECTING = "connecting"
    #: The TLS handshake is in progress (the handler waits for it).
    HANDSHAKE = "handshake"
    #: The handler runs: the driver says what to read and write.
    OPEN = "open"
    #: The socket is closed.
    CLOSED = "closed"


CONNECTING, HANDSHAKE, PHASE_OPEN, CLOSED = Phase


class Connection:
    """One socket, its phase, and (once up) the driver of its handler.

    A client connection has its handler from the start; a server connection makes
    it with *factory* once the connection is up (after the TLS handshake, if any).
    """

    __slots__ = (
        "client_tls",
        "driver",
        "events",
        "factory",
        "loop",
        "opts",
        "phase",
        "read_size",
        "read_soon",
        "recv_wants_write",
        "send_wants_read",
        "sock",
        "timer",
        "tls",
    )

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        opts: Options,
        phase: Phase,
        *,
        handler: Handler | None = None,
        factory: Callable[[], object] | None = None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.opts = opts
        self.phase = phase
        self.read_size = opts.read_size
        self.events = 0
        self.timer: TimerHandle | None = None
        self.factory = factory
        self.tls = isinstance(sock, ssl_module.SSLSocket)
        self.read_soon = False
        self.recv_wants_write = False
        self.send_wants_read = False
        #: A client's TLS to start once TCP is up: (context, server_hostname).
        self.client_tls: tuple[ssl_module.SSLContext, str | None] | None = None
        self.driver: Driver | None = None if handler is None else self._driver_for(handler)
        loop.adopt(self)

    def _driver_for(self, handler: Handler) -> Driver:
        return self.opts.driver(handler, clock=time.monotonic, schedule=self._wakeup, log=logger)

    # -- phases ----------------------------------------------------------------------

    def connected(self) -> None:
        """A client's TCP connect finished (the socket is writable): go on, or fail."""
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            logger.debug("connect failed: %s", errno.errorcode.get(err, err))
            self.close()
            return
        nodelay(self.sock)
        if self.client_tls is None:
            self.open()
        else:
            self.start_tls(*self.client_tls)

    def start_tls(self, context: ssl_module.SSLContext, server_hostname: str | None) -> None:
        """Wrap the connected socket for a client's TLS and start the handshake."""
        self.client_tls = None
        self.loop.unregister(self)
        self.loop.forget(self)
        try:
            self.sock = context.wrap_socket(
                self.sock,
                server_side=False,
                do_handshake_on_connect=False,
                server_hostname=server_hostname,
            )
        except (OSError, ValueError) as exc:
            logger.debug("TLS setup failed: %r", exc)
            self.close()
            return
        self.tls = True
        self.begin_handshake()

    def upgrade(self) -> None:
        """The output before a ``start_tls()`` is sent: wrap the socket, shake hands."""
        driver = self.driver
        assert driver is not None
        assert driver.tls_upgrade is not None
        upgrade = driver.tls_upgrade
        self._cancel_timer()  # the idle timer: the handshake has its own bound
        self.loop.unregister(self)
        self.loop.forget(self)
        try:
            self.sock = upgrade_context(upgrade).wrap_socket(
                self.sock,
                server_side=upgrade.server_side,
                do_handshake_on_connect=False,
                server_hostname=upgrade.server_hostname,
            )
        except (OSError, ValueError) as exc:
            driver.tls_failed(exc)
            self.loop.adopt(self)
            self.close()
            return
        self.tls = True
        self.begin_handshake()

    def begin_handshake(self) -> None:
        """Enter the handshake phase, bounded by ``tls_handshake_timeout``, and take
        its first step."""
        self.phase = HANDSHAKE
        self.loop.adopt(self)
        timeout = self.opts.tls_handshake_timeout
        if timeout is not None:
            self.timer = self.loop.call_later(timeout, self._handshake_expired)
        self.handshake()

    def handshake(self) -> None:
        """Go on with the TLS handshake; register for what it waits for, or open."""
        sock = self.sock
        assert isinstance(sock, ssl_module.SSLSocket)
        try:
            sock.do_handshake()
        except ssl_module.SSLWantReadError:
            self.register(_READ)
        except ssl_module.SSLWantWriteError:
            self.register(_WRITE)
        except (OSError, ValueError) as exc:  # a bad certificate, not TLS, a reset...
            logger.debug("TLS handshake failed: %r", exc)
            if self.driver is not None:
                self.driver.tls_failed(exc)
            self.close()
        else:
            self._cancel_timer()
            self.open()

    def _handshake_expired(self) -> None:
        self.timer = None
        if self.phase is HANDSHAKE:
            logger.debug("TLS handshake not done within tls_handshake_timeout")
            if self.driver is not None:
                self.driver.tls_failed(TimeoutError("tls_handshake_timeout"))
            self.close()

    def open(self) -> None:
        """The connection is up: make the server's handler, start the driver, act."""
        self.phase = PHASE_OPEN
        if self.driver is None:
            assert self.factory is not None
            handler = start_handler(self.factory, logger)
            self.factory = None
            if handler is None:
                self.close()
                return
            self.driver = self._driver_for(handler)
        driver = self.driver
        timeout = driver.idle_timeout
        if timeout is not None:
            self.timer = self.loop.call_later(timeout, self._idle)
        if driver.state is UPGRADING:
            driver.tls_started(self.sock)
        else:
            try:
                peername = self.sock.getpeername()
            except OSError:
                peername = None
            driver.start(peername)
        self.update()

    # -- events ----------------------------------------------------------------------

    def on_event(self, mask: int) -> None:
        """The selector reported *mask* for this socket."""
        phase = self.phase
        if phase is PHASE_OPEN:
            if self.recv_wants_write and mask & _WRITE:
                self.recv_wants_write = False
                self.read()
            elif self.send_wants_read and mask & _READ:
                self.send_wants_read = False
                self.update()
            elif mask & _READ:
                self.read()
            else:
                self.update()
        elif phase is HANDSHAKE:
            self.handshake()
        elif phase is CONNECTING:
            self.connected()

    def read(self) -> None:
        """Receive what the socket has, give it to the driver, and act on the answer."""
        driver = self.driver
        assert driver is not None
        if not driver.reading:
            # Registered for a TLS send that waited on the peer: input waits.
            self.update()
            return
        try:
            data = self.sock.recv(self.read_size)
        except _NOTHING_YET:
            return
        except ssl_module.SSLWantWriteError:
            self.recv_wants_write = True
            self.update()
            return
        except ssl_module.SSLEOFError:
            data = b""  # a ragged EOF (no close_notify): an EOF, as on asyncio
        except OSError as exc:  # a reset (or, over TLS, a broken record)
            logger.debug("recv failed: %r", exc)
            self.close()
            return
        driver.receive(data)
        self.update()

    def _write(self, driver: Driver) -> bool:
        """Send what the socket takes; return true if all output went out."""
        sock = self.sock
        while True:
            data = driver.peek(WRITE_SIZE)
            if not data:
                return True
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError, ssl_module.SSLWantWriteError):
                # After SSLWantWriteError the same bytes, or more, come again
                # (peek), as a retried SSL write must be given.
                return False
            except ssl_module.SSLWantReadError:
                self.send_wants_read = True
                return False
            except OSError as exc:
                logger.debug("send failed: %r", exc)
                self.close()
                return False
            driver.consume(sent)
            if sent < len(data):
                return False
            if sent < WRITE_SIZE and driver.state is OPEN:
                # Fewer bytes than asked for: nothing more is ready (in other states
                # the next peek may dispatch held input, or find the end).
                return True

    def update(self) -> None:
        """Write what can be written, then close or (re)register as the driver says."""
        driver = self.driver
        if self.phase is not PHASE_OPEN or driver is None:
            return
        if driver.state is ABORTING:
            self.close()
            return
        flushed = self._write(driver)
        state = driver.state
        if self.phase is CLOSED:
            return
        if state is not OPEN:
            if state is ABORTING or (flushed and state is DRAINING):
                self.close()
                return
            if flushed and state is UPGRADING:
                self.upgrade()
                return
        events = (_READ if driver.reading else 0) | (0 if flushed else _WRITE)
        if self.tls:
            # What the TLS layer waits for, rather than what the driver asks: a send
            # that must read first waits for READ (WRITE would spin), a receive that
            # must write first for WRITE.
            if self.send_wants_read:
                events = (events & ~_WRITE) | _READ
            if self.recv_wants_write:
                events |= _WRITE
        if events != self.events:
            self.register(events)
        if self.tls and not self.read_soon and driver.reading:
            # Decrypted bytes already in the TLS layer: no socket event will tell.
            sock = self.sock
            assert isinstance(sock, ssl_module.SSLSocket)
            if sock.pending():
                self.read_soon = True
                self.loop.call_soon(self._read_pending)

    def _read_pending(self) -> None:
        self.read_soon = False
        if self.phase is PHASE_OPEN:
            self.read()

    def _wakeup(self) -> None:
        self.loop.call_soon(self._woken)

    def _woken(self) -> None:
        driver = self.driver
        if driver is not None:
            driver.woke()
            if self.phase is HANDSHAKE and driver.aborting:
                self.close()  # close() during a start_tls() handshake
                return
        self.update()

    def _idle(self) -> None:
        self.timer = None
        if self.phase is not PHASE_OPEN or self.driver is None:
            return
        delay = self.driver.idle_check(time.monotonic())
        if delay is None:
            self.close()
        else:
            self.timer = self.loop.call_later(delay, self._idle)

    # -- registration and the end ----------------------------------------------------

    def register(self, events: int) -> None:
        """Ask the selector for *events* on this socket (0: none)."""
        self.loop.register(self, events)
        self.events = events

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        """Close the socket and tell the driver (``on_close``), once."""
        if self.phase is CLOSED:
            return
        self.phase = CLOSED
        self._cancel_timer()
        self.loop.unregister(self)
        self.loop.forget(self)
        driver = self.driver
        sock = self.sock
        try:
            if self.tls and driver is not None and driver.state is not ABORTING:
                # Best effort, never waiting: send close_notify if the socket takes it.
                with contextlib.suppress(OSError, ValueError):
                    sock.unwrap()  # type: ignore[attr-defined]
            sock.close()
        finally:
            if driver is not None:
                driver.lost()
                self.driver = None
