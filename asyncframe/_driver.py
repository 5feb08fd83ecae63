"""The connection policy every adapter follows, written once and free of I/O.

An adapter owns a transport (a socket, an asyncio transport, a trio stream) and a
:class:`Driver` per connection; it tells the driver what happened (bytes arrived,
the peer closed, the idle timer fired) and asks it what to do (take output, read
or not, close now). The driver runs the :class:`~asyncframe.Handler`'s callbacks
and holds the rules:

- user code is guarded: a callback or producer that raises is logged and closes
  its own connection only;
- abort beats flush beats close: :meth:`Handler.close` drops pending output, and a
  close asked for by :meth:`Handler.close_when_done` or by the peer's EOF happens
  only once the output before it is flushed;
- output-bounded dispatch: once more than ``high_water`` bytes of output are
  queued, the handler is given no more input (the unparsed bytes wait in the
  channel and :attr:`Driver.reading` turns false) until the output drains to
  ``high_water // 2``; so a connection holds at most ``high_water`` plus one
  reply, one frame and one read, whatever a single read contains;
- the idle timeout: seconds without a received byte close the connection;
- wakeups (output queued from outside a callback) are coalesced into one call of
  the adapter's ``schedule`` until the adapter handles it.

:class:`AcceptBackoff` is the policy for a listening socket that fails to accept.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

from ._handler import Handler

__all__ = ["DEFAULT_HIGH_WATER", "AcceptBackoff", "Driver", "RESOURCE_ERRNOS"]

logger = logging.getLogger("asyncframe")

#: ``accept()`` errors that mean the process or system is out of a resource:
#: accepting again at once would fail again, so the listener backs off.
RESOURCE_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, "EMFILE", None),
        getattr(errno, "ENFILE", None),
        getattr(errno, "ENOBUFS", None),
        getattr(errno, "ENOMEM", None),
    )
    if code is not None
)


#: The default ``high_water``: 1 MiB of queued output per connection.
DEFAULT_HIGH_WATER = 1 << 20


def _never() -> float:
    return 0.0


def _nothing() -> None:
    return None


class Driver:
    """The policy for one :class:`~asyncframe.Handler` on one connection.

    :param handler: the handler to run.
    :param high_water: above this many bytes of queued output the handler gets no
        more input until the output drains to half of it (default: 1 MiB).
    :param idle_timeout: seconds without a received byte after which the
        connection is to close (``None``: never).
    :param clock: the adapter's clock in seconds (used for the idle timeout only).
    :param schedule: called, once until :meth:`woke` is called, when output or a
        close is asked for outside the driver's own calls (from a timer, another
        task): the adapter should then come back and act on it.
    :param log: where guarded exceptions are logged.
    """

    __slots__ = (
        "_clock",
        "_eof",
        "_eof_reported",
        "_failed",
        "_held",
        "_last_received",
        "_log",
        "_lost",
        "_schedule",
        "_timed_out",
        "_wake_pending",
        "handler",
        "high_water",
        "idle_timeout",
    )

    def __init__(
        self,
        handler: Handler,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        idle_timeout: float | None = None,
        clock: Callable[[], float] = _never,
        schedule: Callable[[], object] = _nothing,
        log: logging.Logger = logger,
    ) -> None:
        self.handler = handler
        self.high_water = high_water
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._schedule = schedule
        self._log = log
        self._held = False  # input waits because output passed high_water
        self._eof = False  # the peer's EOF arrived
        self._eof_reported = False  # ...and the handler has seen all input and on_eof
        self._failed = False  # user code raised
        self._timed_out = False
        self._lost = False
        self._wake_pending = False
        self._last_received = 0.0
        handler.set_wakeup(self._wake)

    def __repr__(self) -> str:
        return f"<Driver of {self.handler!r}>"

    # -- what the adapter reports ----------------------------------------------------

    def start(self, peername: Any = None) -> None:
        """The connection is up: record the peer's address and run ``on_connect``."""
        self.handler.peername = peername
        if self.idle_timeout is not None:
            self._last_received = self._clock()
        self._guard(self.handler.connection_made)

    def receive(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes arrived (``b""``: the peer closed its side); dispatch what policy allows."""
        if self.idle_timeout is not None:
            self._last_received = self._clock()
        handler = self.handler
        if self._eof or self.aborting:
            return
        if not len(data):
            self._eof = True
        handler.channel.receive_data(data)
        if not self._held:
            self._dispatch()

    def idle_check(self, now: float) -> float | None:
        """The idle timer fired at *now*: return the seconds still to wait, or ``None``
        if the connection has been idle for ``idle_timeout`` (it is then aborting)."""
        if self.idle_timeout is None or self._lost:
            return None
        left = self._last_received + self.idle_timeout - now
        if left > 0:
            return left
        if not self._timed_out:
            self._timed_out = True
            self._log.debug("%r: idle for %s s, closing", self.handler, self.idle_timeout)
        return None

    def woke(self) -> None:
        """The adapter is acting on a ``schedule`` call: the next wakeup schedules again."""
        self._wake_pending = False

    def lost(self) -> None:
        """The connection is gone: run ``on_close`` once."""
        if not self._lost:
            self._lost = True
            self._guard(self.handler.connection_lost, what="on_close")

    # -- what the adapter asks -------------------------------------------------------

    @property
    def aborting(self) -> bool:
        """Close now, sending nothing more (:meth:`Handler.close`, a failure, a timeout)."""
        return self._failed or self._timed_out or self.handler.wants_abort

    @property
    def reading(self) -> bool:
        """True while the adapter should read from the peer."""
        return not (
            self._held
            or self._eof
            or self._failed
            or self._timed_out
            or self._lost
            or self.handler.closing
        )

    @property
    def finished(self) -> bool:
        """True if the connection should close once the output taken so far is sent.

        (Also true when :attr:`aborting`; check that first, it must not wait.)
        """
        handler = self.handler
        if self.aborting or handler.channel.wants_close:
            return True
        return self._eof_reported and not handler.channel.has_output()

    @property
    def buffered_output(self) -> int:
        """Bytes of output queued and not taken yet."""
        return self.handler.channel.buffered_output

    def take(self, max_bytes: int | None) -> bytes:
        """Take the next output (``b""``: none now); for transports that accept it all.

        Input held back by ``high_water`` is dispatched here once output is low.
        """
        return self._output(self.handler.channel.data_to_send, max_bytes)

    def peek(self, max_bytes: int) -> bytes:
        """Return the next output without taking it; for sockets with partial writes."""
        return self._output(self.handler.channel.peek_output, max_bytes)

    def _output(self, get: Callable[[Any], bytes], max_bytes: int | None) -> bytes:
        if self._held:
            self._resume()
        if self.aborting:
            return b""
        try:
            return get(max_bytes)
        except Exception:
            self._log.exception("a producer of %r raised; closing its connection", self.handler)
            self._failed = True
            return b""

    def consume(self, n: int) -> None:
        """*n* bytes of what :meth:`peek` returned were sent."""
        self.handler.channel.consume_output(n)

    @property
    def idle_deadline(self) -> float | None:
        """When the connection becomes idle, on the adapter's clock (``None``: never)."""
        if self.idle_timeout is None:
            return None
        return self._last_received + self.idle_timeout

    # -- internals -------------------------------------------------------------------

    def _wake(self) -> None:
        if not self._wake_pending and not self._lost:
            self._wake_pending = True
            self._schedule()

    def _guard(self, func: Callable[[], object], what: str = "") -> bool:
        """Run user code; on an exception log it and fail this connection only.

        Output pushed from inside needs no wakeup (the adapter acts right after),
        so the handler's wakeup is switched off meanwhile.
        """
        handler = self.handler
        wake = handler._wakeup
        handler._wakeup = None
        try:
            func()
        except Exception:
            if what:
                self._log.exception("%s of %r raised", what, handler)
            else:
                self._log.exception("handler %r raised; closing its connection", handler)
            self._failed = True
            return False
        finally:
            if handler._wakeup is None:
                handler._wakeup = wake
        return True

    def _dispatch(self) -> None:
        # _guard's logic, inlined: this runs once per read.
        handler = self.handler
        wake = handler._wakeup
        handler._wakeup = None
        try:
            complete = handler.dispatch(self.high_water)
            if complete and self._eof and not self._eof_reported:
                self._eof_reported = True
                if not handler.closing:
                    handler.on_eof()
        except Exception:
            self._log.exception("handler %r raised; closing its connection", handler)
            self._failed = True
            complete = True
        finally:
            if handler._wakeup is None:
                handler._wakeup = wake
        self._held = not complete and not self.aborting

    def _resume(self) -> None:
        if self.handler.channel.buffered_output <= self.high_water // 2:
            self._held = False
            self._dispatch()


class AcceptBackoff:
    """What a listener does when ``accept()`` fails, trio's policy.

    Out of descriptors or memory (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``),
    accepting again at once would fail again and spin: the listener pauses for ``delay``
    seconds (the connections wait in the kernel's backlog meanwhile). A burst of
    failures is logged once as it starts and once as it ends, never per attempt. Other
    errors concern one connection only (the peer gave up, say): go on accepting.

    :param log: where the burst is reported.
    :param delay: seconds to pause after a resource error.
    """

    __slots__ = ("_log", "delay", "failures")

    def __init__(self, log: logging.Logger = logger, delay: float = 0.1) -> None:
        self._log = log
        self.delay = delay
        #: Failed attempts in the current burst (0: accepting normally).
        self.failures = 0

    def failed(self, exc: OSError) -> float | None:
        """``accept()`` raised *exc*: return the seconds to pause, or ``None`` to go on."""
        if exc.errno not in RESOURCE_ERRNOS:
            self._log.debug("accept failed, going on: %s", exc)
            return None
        if not self.failures:
            self._log.warning(
                "accept failed (%s): pausing the listener %d ms at a time until it succeeds",
                exc,
                round(self.delay * 1000),
            )
        self.failures += 1
        return self.delay

    def succeeded(self) -> None:
        """``accept()`` returned a connection: end a burst of failures, if one ran."""
        if self.failures:
            self._log.warning("accepting again after %d failed attempts", self.failures)
            self.failures = 0
