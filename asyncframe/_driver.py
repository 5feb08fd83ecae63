"""The connection engine: one connection's whole state and policy, free of I/O.

An adapter owns a transport (a socket, an asyncio transport, a trio stream) and one
:class:`Driver` per connection. It tells the driver what happened (the connection
is up, bytes arrived, the peer closed, a timer fired, the connection is gone) and
asks it what now: the output to send (:meth:`Driver.take`, or :meth:`Driver.peek`
and :meth:`Driver.consume`), and the :class:`State`, which says whether to read,
to close once the output is sent, or to close at once. The driver runs the
:class:`~asyncframe.Handler`'s callbacks and holds every rule:

- user code is guarded: a callback that raises is logged and closes its own
  connection only, once the output pushed before the failure is sent (no more
  input is dispatched to it); a producer that raises, or returns something
  that is not bytes, is logged and aborts its connection;
- abort beats flush beats close: :meth:`Handler.close` drops pending output; a
  close asked for by :meth:`Handler.close_when_done` or by the peer's EOF happens
  once the output before it is sent;
- output-bounded dispatch: once more than ``high_water`` bytes of output are
  queued the handler is given no more input, checked after every callback (so
  inside an ``on_frame`` run and between ``on_frames`` batches), until the output
  drains to ``high_water // 2``;
- pipelines never stall: while input waits for output to drain, reading goes on
  (a client that writes a whole pipeline before it reads a reply completes), up
  to ``input_limit`` received bytes; past that the connection is closed and a
  warning logged;
- the idle timeout: ``idle_timeout`` seconds without a received byte close the
  connection;
- wakeups (output or a close asked for from outside a callback) are coalesced
  into one call of the adapter's ``schedule`` until the adapter takes output.

The states and the transitions between them are the tables below; nothing else
assigns :attr:`Driver.state`. A handler, its channel and its driver form no
reference cycle once the connection is gone (:meth:`Driver.lost` unlinks them), so
a closed connection is freed as soon as the adapter drops it.

:class:`AcceptBackoff` is the policy for a listening socket that fails to accept.
"""

from __future__ import annotations

import enum
import errno
import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ._channel import Channel
from ._errors import FrameTooLong, ProtocolError
from ._events import NEED_DATA, ConnectionClosed, Data
from ._handler import Handler
from ._producers import OutputQueue

__all__ = [
    "DEFAULT_HIGH_WATER",
    "DEFAULT_INPUT_LIMIT",
    "DEFAULT_READ_SIZE",
    "MAX_READ_SIZE",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "RESOURCE_ERRNOS",
    "AcceptBackoff",
    "Driver",
    "Options",
    "State",
    "TLSUpgrade",
    "start_handler",
]

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
#: The default ``input_limit``: 64 MiB of received bytes waiting for their turn.
DEFAULT_INPUT_LIMIT = 64 << 20
#: The default ``read_size``: the most bytes read at once.
DEFAULT_READ_SIZE = 65536
#: The largest ``read_size`` accepted: a read buffer is allocated at that size.
MAX_READ_SIZE = 16 << 20
#: The default listen ``backlog`` (the kernel caps it at its own maximum).
DEFAULT_BACKLOG = 4096
#: The default ``tls_handshake_timeout``: seconds a TLS handshake may take, from the
#: first byte or after :meth:`Handler.start_tls`.
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10.0
_HANDSHAKE_TIMEOUT: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT


class State(enum.Enum):
    """Where a connection is in its life; :attr:`Driver.state` holds one.

    What each asks of the adapter:

    ======================  ==========  ============================================
    state                   read?       then
    ======================  ==========  ============================================
    :attr:`IDLE`            no          call :meth:`Driver.start` once connected
    :attr:`OPEN`            yes         send what :meth:`Driver.take` returns
    :attr:`HELD`            yes         send; input waits until the output drains
    :attr:`EOF`             no          send; the rest of the input follows
    :attr:`DRAINING`        no          send, and close once nothing is left
    :attr:`UPGRADING`       no          send; once nothing is left
                                        (:attr:`Driver.upgrade_due`), start TLS
                                        with :attr:`Driver.tls_upgrade` and report
                                        :meth:`Driver.tls_started`
    :attr:`ABORTING`        no          close now, sending nothing more
    :attr:`CLOSED`          no          nothing: :meth:`Driver.lost` was called
    ======================  ==========  ============================================
    """

    #: Made, not started: the connection is not up yet (connecting, TLS handshake).
    IDLE = "idle"
    #: Reading and dispatching: each read goes to the handler at once.
    OPEN = "open"
    #: More than ``high_water`` bytes of output wait: input is read and kept, not
    #: dispatched, until the output drains to half the mark.
    HELD = "held"
    #: The peer closed while input was held: it is dispatched as the output
    #: drains, then ``on_eof`` runs.
    EOF = "eof"
    #: No more input is dispatched (``close_when_done``, or the peer's EOF after
    #: ``on_eof``): the output is sent, then the connection closes.
    DRAINING = "draining"
    #: Close at once, dropping the output (``close()``, a failure, a timeout, a limit).
    ABORTING = "aborting"
    #: :meth:`Handler.start_tls` was called: the output pushed before it is sent in
    #: clear text, then the adapter starts TLS on the connection; nothing is read
    #: meanwhile, and the output pushed since waits for the handshake.
    UPGRADING = "upgrading"
    #: The connection is gone.
    CLOSED = "closed"


IDLE, OPEN, HELD, EOF, DRAINING, ABORTING, UPGRADING, CLOSED = State

#: The states in which the adapter reads from the peer.
READING = frozenset({OPEN, HELD})

# What moves a connection from one state to another, and where to: the whole
# state machine, each entry taken by some connection (tests/core's contract test
# shows it). A pair missing here is a bug of the engine, never of the peer: the
# driver's guards never ask for one, and _to() raises if it were asked.
_START, _HOLD, _HOLD_AT_EOF, _RESUME, _PEER_EOF, _DONE, _CLOSE, _ABORT, _LOST = (
    "start",
    "hold",
    "hold at eof",
    "resume",
    "eof",
    "input done",
    "close",
    "abort",
    "lost",
)
_UPGRADE, _UPGRADED = "start tls", "tls started"
TRANSITIONS: dict[State, dict[str, State]] = {
    IDLE: {_START: OPEN, _ABORT: ABORTING, _LOST: CLOSED},
    OPEN: {
        _HOLD: HELD,
        _HOLD_AT_EOF: EOF,
        _DONE: DRAINING,
        _CLOSE: DRAINING,
        _ABORT: ABORTING,
        _LOST: CLOSED,
        _UPGRADE: UPGRADING,
    },
    HELD: {
        _RESUME: OPEN,
        _PEER_EOF: EOF,
        _CLOSE: DRAINING,
        _ABORT: ABORTING,
        _LOST: CLOSED,
        _UPGRADE: UPGRADING,
    },
    EOF: {_HOLD_AT_EOF: EOF, _DONE: DRAINING, _CLOSE: DRAINING, _ABORT: ABORTING, _LOST: CLOSED},
    # on_eof called close_when_done(): the input is done, and the close already asked.
    DRAINING: {_DONE: DRAINING, _ABORT: ABORTING, _LOST: CLOSED},
    ABORTING: {_ABORT: ABORTING, _LOST: CLOSED},
    # A close asked for while upgrading happens after the handshake, once the
    # output pushed before it (to be sent over TLS) is out.
    UPGRADING: {_UPGRADED: OPEN, _CLOSE: UPGRADING, _ABORT: ABORTING, _LOST: CLOSED},
    CLOSED: {},
}

# How a handler takes its input, decided once per connection from what its class
# overrides.
_STREAM, _FRAME, _BATCH = 0, 1, 2


def _check_int(name: str, value: object, *, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        bound = "> 0" if low == 1 else f">= {low}"
        raise ValueError(f"{name} must be {bound}, not {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, not {value}")
    return value


def _check_seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0 seconds, not {value}")
    return float(value)


def _positive(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    high = MAX_READ_SIZE if attribute.name == "read_size" else None
    _check_int(attribute.name, value, high=high)


def _seconds(instance: object, attribute: attrs.Attribute[float | None], value: object) -> None:
    _check_seconds(attribute.name, value)


@attrs.frozen
class Options:
    """The connection options every adapter takes, under the same names, checked.

    Each bad value raises :exc:`TypeError` or :exc:`ValueError` naming the option.

    :param read_size: the most bytes read at once (at most 16 MiB).
    :param high_water: above this many bytes of queued output the handler gets no
        more input until the output drains to half of it.
    :param input_limit: the most received bytes a connection keeps while its input
        waits for the output to drain; past it the connection is closed.
    :param idle_timeout: seconds without a received byte after which the
        connection is closed (``None``: never).
    :param backlog: the listen queue of a server.
    :param tls_handshake_timeout: seconds a TLS handshake may take (the one a
        TLS server or client starts with, and the one :meth:`Handler.start_tls`
        starts) before the connection is closed; ``None``: unbounded.
        ``idle_timeout`` does not apply to a handshake.
    """

    read_size: int = attrs.field(default=DEFAULT_READ_SIZE, validator=_positive)
    high_water: int = attrs.field(default=DEFAULT_HIGH_WATER, validator=_positive)
    input_limit: int = attrs.field(default=DEFAULT_INPUT_LIMIT, validator=_positive)
    idle_timeout: float | None = attrs.field(default=None, validator=_seconds)
    backlog: int = attrs.field(default=DEFAULT_BACKLOG, validator=_positive)
    tls_handshake_timeout: float | None = attrs.field(
        default=_HANDSHAKE_TIMEOUT, validator=_seconds
    )

    def driver(
        self,
        handler: Handler,
        *,
        clock: Callable[[], float],
        schedule: Callable[[], object],
        log: logging.Logger,
    ) -> Driver:
        """A :class:`Driver` for *handler* with these options."""
        return Driver(
            handler,
            high_water=self.high_water,
            input_limit=self.input_limit,
            idle_timeout=self.idle_timeout,
            tls_handshake_timeout=self.tls_handshake_timeout,
            clock=clock,
            schedule=schedule,
            log=log,
        )


@attrs.frozen
class TLSUpgrade:
    """What :meth:`Handler.start_tls` asked for: the adapter starts TLS with it."""

    #: The :class:`ssl.SSLContext` to wrap the connection with.
    context: Any
    #: True for the server's side of the handshake.
    server_side: bool
    #: The name the server's certificate must match (client side), or ``None``.
    server_hostname: str | None


def _never() -> float:
    return 0.0


def _nothing() -> None:
    return None


def _style(handler: Handler) -> int:
    cls = type(handler)
    if cls.on_frames is not Handler.on_frames:
        return _BATCH
    if cls.on_frame is not Handler.on_frame:
        return _FRAME
    return _STREAM


class Driver:
    """The engine of one connection: the :class:`~asyncframe.Handler` it runs, its
    :class:`State`, and the answer to the adapter's "what now?".

    :param handler: the handler to run (a :class:`~asyncframe.Handler` whose
        ``__init__`` called ``super().__init__()``).
    :param high_water: above this many bytes of queued output the handler gets no
        more input until the output drains to half of it (default: 1 MiB).
    :param input_limit: the most received bytes kept while input waits for the
        output to drain (default: 64 MiB); past it the connection is aborted.
    :param idle_timeout: seconds without a received byte after which the
        connection is aborted (``None``: never).
    :param tls_handshake_timeout: seconds the adapter lets a TLS handshake take
        (kept here for the adapter to read; ``None``: unbounded).
    :param clock: the adapter's clock in seconds (used for the idle timeout only).
    :param schedule: called, once until the adapter next calls :meth:`take` or
        :meth:`peek`, when output or a close is asked for outside the driver's own
        calls (from a timer, another task): the adapter should then come back and
        act on it.
    :param log: where guarded exceptions and closes for a limit are logged.
    """

    __slots__ = (
        "_batch_size",
        "_clock",
        "_input_limit",
        "_last_received",
        "_log",
        "_out",
        "_pending",
        "_resume_at",
        "_schedule",
        "_style",
        "_wake_pending",
        "channel",
        "handler",
        "high_water",
        "idle_timeout",
        "state",
        "tls_handshake_timeout",
        "tls_upgrade",
    )

    def __init__(
        self,
        handler: Handler,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        idle_timeout: float | None = None,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        clock: Callable[[], float] = _never,
        schedule: Callable[[], object] = _nothing,
        log: logging.Logger = logger,
    ) -> None:
        channel = _channel_of(handler)
        #: The handler this driver runs.
        self.handler = handler
        #: The handler's channel.
        self.channel = channel
        #: Where the connection is in its life; see :class:`State`.
        self.state = IDLE
        self.high_water = _check_int("high_water", high_water)
        self._input_limit = _check_int("input_limit", input_limit)
        self.idle_timeout = _check_seconds("idle_timeout", idle_timeout)
        self.tls_handshake_timeout = _check_seconds("tls_handshake_timeout", tls_handshake_timeout)
        #: While :attr:`state` is :attr:`State.UPGRADING`: the TLS to start.
        self.tls_upgrade: TLSUpgrade | None = None
        self._resume_at = self.high_water // 2
        self._out = channel.output
        self._style = _style(handler)
        self._clock = clock
        self._schedule: Callable[[], object] | None = schedule
        self._log = log
        self._wake_pending = False
        self._last_received = 0.0
        # Frames per on_frames() batch: the first batch is one frame, and each later
        # one is sized from the replies to the one before (see _deliver_batches).
        self._batch_size = 1
        self._pending: Sequence[bytes] = ()  # frames of a batch that was cut, not delivered
        handler.driver = self

    def __repr__(self) -> str:
        return f"<Driver {self.state.value} of {self.handler!r}>"

    def _to(self, event: str) -> None:
        """The one place the state changes: follow *event* in :data:`TRANSITIONS`."""
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            raise RuntimeError(
                f"engine bug: no transition for {event!r} from {self.state}"
            ) from None

    # -- what the adapter reports ----------------------------------------------------

    def start(self, peername: Any = None) -> None:
        """The connection is up: record the peer's address and run ``on_connect``."""
        if self.state is not IDLE:
            return
        self.handler.peername = peername
        if self.idle_timeout is not None:
            self._last_received = self._clock()
        self._to(_START)
        self._guard(self.handler.on_connect)
        self._settle_close()

    def receive(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes arrived (``b""``: the peer closed its side); dispatch what policy allows.

        The handler's callbacks run in here; take their output with :meth:`take`
        (or :meth:`peek`) right after, in the same turn of the adapter's loop.
        """
        state = self.state
        if self.idle_timeout is not None:
            self._last_received = self._clock()
        if state is OPEN:
            self.channel.receive_data(data)
            self._dispatch(not len(data))
        elif state is HELD:
            self.channel.receive_data(data)
            if not len(data):
                self._to(_PEER_EOF)
            elif self.channel.buffered_input > self._input_limit:
                self._log.warning(
                    "%r: %d bytes received while its output waits for the peer to read;"
                    " closing it (input_limit=%d)",
                    self.handler,
                    self.channel.buffered_input,
                    self._input_limit,
                )
                self._abort()
        elif state is UPGRADING:
            self._input_past_upgrade(bool(len(data)))
        elif state is IDLE:
            raise RuntimeError("Driver.receive() before start(): the connection is not up")
        # Other states read nothing: bytes still arriving are dropped.

    def idle_check(self, now: float) -> float | None:
        """The idle timer fired at *now*: return the seconds still to wait, or ``None``
        if the connection has been idle for ``idle_timeout`` (it is then aborting)."""
        if self.idle_timeout is None or self.state is CLOSED:
            return None
        left = self._last_received + self.idle_timeout - now
        if left > 0:
            return left
        if self.state is not ABORTING:
            self._log.debug("%r: idle for %s s, closing", self.handler, self.idle_timeout)
            self._abort()
        return None

    def woke(self) -> None:
        """The adapter is acting on a ``schedule`` call: the next wakeup schedules again.

        (:meth:`take` and :meth:`peek` do this too.)
        """
        self._wake_pending = False

    def lost(self) -> None:
        """The connection is gone, whoever closed it: run ``on_close`` once.

        Output still queued is dropped, and the handler, its channel and this
        driver stop referring to each other and to the adapter.
        """
        if self.state is CLOSED:
            return
        self._to(_LOST)
        self._schedule = None
        self._end_upgrade()
        out = self._out
        out.refuse_more("the connection ended")
        out.clear()
        try:
            self._guard(self.handler.on_close, what="on_close")
        finally:
            self.handler.driver = None

    # -- what the adapter asks -------------------------------------------------------

    @property
    def reading(self) -> bool:
        """True while the adapter should read from the peer (:attr:`State.OPEN`,
        :attr:`State.HELD`)."""
        state = self.state
        return state is OPEN or state is HELD  # READING, without hashing an enum

    @property
    def aborting(self) -> bool:
        """True if the connection must close now, sending nothing more."""
        return self.state is ABORTING

    @property
    def finished(self) -> bool:
        """True if the connection should close once the output taken so far is sent.

        (Also true when :attr:`aborting`; check that first, it must not wait.)
        """
        state = self.state
        if state is ABORTING or state is CLOSED:
            return True
        return state is DRAINING and not self._out.has_output()

    @property
    def buffered_output(self) -> int:
        """Bytes of output queued and not taken yet."""
        return self._out.buffered

    @property
    def idle_deadline(self) -> float | None:
        """When the connection becomes idle, on the adapter's clock (``None``: never)."""
        if self.idle_timeout is None:
            return None
        return self._last_received + self.idle_timeout

    def take(self, max_bytes: int | None) -> bytes:
        """Take the next output, at most *max_bytes* (``None``: all); ``b""``: none now.

        For transports that accept everything they are given. Input held back by
        ``high_water`` is dispatched here once the output is low, so call it until
        it returns ``b""`` (or fewer than *max_bytes* bytes), then look at :attr:`state`.
        """
        self._wake_pending = False
        state = self.state
        if state is not OPEN:
            if state is ABORTING or state is CLOSED:
                return b""
            if (state is HELD or state is EOF) and self._out.buffered <= self._resume_at:
                self._resume()
                if self.state is ABORTING:
                    return b""
        try:
            data = self._out.take(max_bytes)
        except Exception:
            return self._producer_failed()
        if not data and self.state is OPEN and self._out.closing:
            self._settle_close()
        return data

    def peek(self, max_bytes: int) -> bytes:
        """Return the next output without taking it; for sockets with partial writes.

        Send it, then :meth:`consume` what the socket took.
        """
        self._wake_pending = False
        state = self.state
        if state is not OPEN:
            if state is ABORTING or state is CLOSED:
                return b""
            if (state is HELD or state is EOF) and self._out.buffered <= self._resume_at:
                self._resume()
                if self.state is ABORTING:
                    return b""
        try:
            return self._out.peek(max_bytes)
        except Exception:
            return self._producer_failed()

    def consume(self, n: int) -> None:
        """*n* bytes of what :meth:`peek` returned were sent."""
        self._out.consume(n)

    # -- what the handler reports (Handler's own methods call these) -----------------

    def notify(self) -> None:
        """Output or a close was asked for: act on it, or make the adapter come back.

        Within the driver's own calls nothing is needed (the adapter acts right
        after them); otherwise the adapter's ``schedule`` is called, once until it
        next takes output.
        """
        self._settle_close()
        if (
            not self._wake_pending
            and self._schedule is not None
            and not self._out.gathering
            and self.state is not UPGRADING  # output waits for the handshake
        ):
            self._wake_pending = True
            self._schedule()

    def start_tls(self, context: Any, *, server_side: bool, server_hostname: str | None) -> None:
        """Upgrade the connection to TLS after the output pushed so far (what
        :meth:`Handler.start_tls` asks); see :attr:`State.UPGRADING`.

        The output queued now (producers are pulled to their end here) is what the
        adapter sends in clear text; output pushed from now on waits for the
        handshake and goes over TLS. No more input is dispatched: input already
        received past the command, or received before the handshake, closes the
        connection (it came in clear text, and cannot be told from an injection).
        """
        # The core imports no I/O module (ssl imports socket): an SSLContext is
        # known by what the adapters use of it.
        if not (callable(getattr(context, "wrap_socket", None)) and hasattr(context, "wrap_bio")):
            raise TypeError(f"context must be an ssl.SSLContext, not {type(context).__name__}")
        if not isinstance(server_side, bool):
            raise TypeError(f"server_side must be a bool, not {type(server_side).__name__}")
        if server_hostname is not None and not isinstance(server_hostname, str):
            kind = type(server_hostname).__name__
            raise TypeError(f"server_hostname must be a str or None, not {kind}")
        if server_side:
            if server_hostname is not None:
                raise ValueError("server_hostname is for the client side (server_side=False)")
            protocol = getattr(context.protocol, "name", "")
            if context.check_hostname or protocol == "PROTOCOL_TLS_CLIENT":
                raise ValueError(
                    "context is a client-side context (it checks host names): a server"
                    " needs ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)"
                )
        elif context.check_hostname and not server_hostname:
            raise ValueError("server_hostname is needed: the context checks host names")
        state = self.state
        out = self._out
        if state is not OPEN and state is not HELD:
            raise RuntimeError(f"start_tls() on a connection that is {state.value}")
        if out.closing:
            raise RuntimeError("start_tls() after close_when_done(): the connection is closing")
        if self.channel.eof:
            # The peer ended its side: no handshake can follow (and on_eof's own
            # end of the input would find the connection upgrading).
            raise RuntimeError("start_tls() after the peer's EOF: the peer sends no more")
        in_callback = out.gathering
        try:
            clear = out.take(None)
        except Exception:
            self._producer_failed()
            raise
        # Ends the callbacks' gathering: the delivery loops look at the state after
        # this callback, and a batch stops after this frame.
        out.overflow()
        queue = OutputQueue()
        if clear:
            queue.push(clear)
        self._out = queue
        self.tls_upgrade = TLSUpgrade(context, server_side, server_hostname)
        self._to(_UPGRADE)
        if not in_callback:
            self._input_past_upgrade(bool(self.channel.buffered_input))
            if self._schedule is not None:
                self._wake_pending = True
                self._schedule()

    def tls_started(self, ssl_object: Any = None) -> None:
        """The TLS handshake :meth:`start_tls` asked for completed: the output pushed
        since goes out, input is read again, and ``on_tls_started`` runs.

        *ssl_object* (the :class:`ssl.SSLObject` or :class:`ssl.SSLSocket`, or an
        object with their ``getpeercert()``) becomes the handler's ``ssl_object``.
        """
        if self.state is not UPGRADING:
            return
        self._end_upgrade()
        self.handler.ssl_object = ssl_object
        if self.idle_timeout is not None:
            self._last_received = self._clock()
        self._to(_UPGRADED)
        self._guard(self.handler.on_tls_started, what="on_tls_started")
        self._settle_close()

    def tls_failed(self, error: object) -> None:
        """The handshake :meth:`start_tls` asked for failed or timed out: close."""
        if self.state is UPGRADING:
            self._log.debug("%r: TLS handshake failed: %r", self.handler, error)
            self._abort()

    @property
    def upgrade_due(self) -> bool:
        """True once the output before a :meth:`start_tls` is all taken: start TLS now."""
        return self.state is UPGRADING and not self._out.has_output()

    def has_output(self) -> bool:
        """True if output may be taken now (:meth:`take` may still return ``b""``
        for a producer that ends empty)."""
        return self._out.has_output()

    def abort(self) -> None:
        """Close at once, dropping the output (what :meth:`Handler.close` asks)."""
        self._abort()
        self.notify()

    # -- internals -------------------------------------------------------------------

    def _abort(self) -> None:
        if self.state is not CLOSED:
            self._to(_ABORT)
            self._end_upgrade()
            out = self._out
            out.refuse_more("close()")
            out.clear()

    def _end_upgrade(self) -> None:
        """Back to the handler's own output queue (the clear-text one is done)."""
        self.tls_upgrade = None
        self._out = self.channel.output

    def _input_past_upgrade(self, got_input: bool) -> None:
        if got_input:
            self._log.warning(
                "%r: input received in clear text after start_tls(); closing the connection",
                self.handler,
            )
            self._abort()

    def _settle_close(self) -> None:
        """After user code ran: a close asked for by any door (``close_when_done`` on
        the handler or on its channel) stops the input."""
        if self._out.closing and self.state in (OPEN, HELD, EOF):
            self._to(_CLOSE)

    def _producer_failed(self) -> bytes:
        self._log.exception("a producer of %r raised; closing its connection", self.handler)
        self._abort()
        return b""

    def _failed(self) -> None:
        """A callback raised: send what was pushed before the failure, then close.

        What the handler pushed stays queued, behind it a close (as
        ``close_when_done()`` would): the replies to the frames before the
        failing one reach the peer, and nothing after it is dispatched.
        """
        if self.state is ABORTING or self.state is CLOSED:
            return
        # The handler's own queue: while upgrading, self._out is the clear text
        # before start_tls(), and the close waits for the handshake (UPGRADING's
        # close), as a close_when_done() would.
        out = self.channel.output
        out.stop_gathering()
        out.close_when_done()
        out.refuse_more("a callback raised")
        self._to(_CLOSE)

    def _guard(self, func: Callable[[], object], what: str = "") -> bool:
        """Run user code; on an exception log it and fail this connection only."""
        out = self._out
        out.gather()
        try:
            func()
        except Exception:
            if what:
                self._log.exception("%s of %r raised", what, self.handler)
            else:
                self._log.exception("handler %r raised; closing its connection", self.handler)
            self._failed()
            return False
        finally:
            out.stop_gathering()
        return True

    def _dispatch(self, eof: bool) -> None:
        """Run the input callbacks for what the channel holds, as policy allows
        (*eof*: the peer's EOF has been received)."""
        out = self._out
        limit = self.high_water
        # What the callbacks push is gathered and joined once when the queue is
        # read: many small pushes per read cost one list append each.
        out.gather(limit)
        try:
            style = self._style
            while True:
                if out.closing or (self.state is not OPEN and self.state is not EOF):
                    # close(), close_when_done() (any door), an abort, start_tls()
                    done: bool | None = True
                elif style == _FRAME:
                    done = self._deliver_frames(limit)
                elif style == _BATCH:
                    done = self._deliver_batches(limit)
                else:
                    done = self._deliver_events(limit)
                if done is not None:
                    break
                # A close was asked for, or the terminator changed: look again.
            if done and eof and self.state is not ABORTING and not out.closing:
                self._guard(self.handler.on_eof, what="on_eof")
                if self.state is not ABORTING:
                    self._to(_DONE)
        except Exception:
            self._log.exception("handler %r raised; closing its connection", self.handler)
            self._failed()
            return
        finally:
            out.stop_gathering()
        if self.state is not OPEN and self.state is not EOF:
            if self.state is UPGRADING:
                # Bytes after the command that asked for TLS came in clear text: a
                # peer that is not waiting for the handshake, or an injection.
                self._input_past_upgrade(bool(self.channel.buffered_input or self._pending or eof))
            return
        if out.closing:
            self._settle_close()
        elif not done:
            self._to(_HOLD_AT_EOF if eof else _HOLD)

    def _resume(self) -> None:
        """The output drained: dispatch the input that waited."""
        eof = self.state is EOF
        if not eof:
            self._to(_RESUME)
        self._dispatch(eof)

    def _malformed(self, exc: ProtocolError) -> None:
        """A delivery loop caught *exc*: if the channel raised it (the peer's input is
        malformed, so no more of it can be read), the handler is told and the
        connection closes after the output already pushed; else it is the
        handler's own, and is raised on."""
        if not self.channel.failed:
            raise exc
        self._log.info("%r: malformed input from the peer: %s", self.handler, exc)
        self.handler.on_protocol_error(exc)
        if not self._out.closing:
            self.channel.close_when_done()

    # The three delivery loops return True once every complete frame (or event) was
    # delivered, False if they stopped above the output limit (the rest waits in
    # the channel), and None if they should be run again (a close was asked for, a
    # frame was too long, the terminator changed under a batch).

    def _deliver_events(self, limit: int) -> bool | None:
        channel = self.channel
        handler = self.handler
        out = self._out
        on_data = handler.on_data
        on_terminator = handler.on_terminator
        # A new terminator applies from the next event on. (A frame style streams
        # here only while the terminator is None, and then one Data event takes
        # every byte buffered: the next dispatch is back to frames.)
        while True:
            try:
                event = channel.next_event()
            except FrameTooLong as exc:
                handler.on_frame_too_long(exc)
                if out.closing:
                    return None
                continue
            except ProtocolError as exc:
                self._malformed(exc)
                return None
            if event is NEED_DATA or type(event) is ConnectionClosed:
                return True
            if type(event) is Data:
                on_data(event.data)
            else:
                on_terminator(event.terminator)  # type: ignore[union-attr, arg-type]  # a record kind too
            if out.gathered is None or out.ready_size > limit:  # see _deliver_frames
                if out.closing or self.state is UPGRADING:
                    return None
                if out.buffered > limit:
                    return False

    def _deliver_frames(self, limit: int) -> bool | None:
        out = self._out
        handler = self.handler
        on_frame = handler.on_frame
        try:
            # The runs of a batch are lists: a loop over them costs what a loop
            # over a list does. A terminator set in on_frame ends the run (the
            # frames after it are split again); a close ends the dispatch.
            for run in self.channel.frame_runs():
                for frame in run:
                    on_frame(frame)
                    # After each callback: stop on a close, or above the output
                    # limit. While the queue gathers it is not closing and no
                    # producer waits, so one comparison is the whole check.
                    if out.gathered is None or out.ready_size > limit:
                        if out.closing or self.state is UPGRADING:
                            return None
                        if out.buffered > limit:
                            return False
        except FrameTooLong as exc:
            handler.on_frame_too_long(exc)
            return None
        except ProtocolError as exc:
            self._malformed(exc)
            return None
        # No complete frame is left: done, unless the terminator is None (also
        # after a count), where the bytes are a stream for on_data.
        return self._deliver_events(limit) if self.channel.raw else True

    def _deliver_batches(self, limit: int) -> bool | None:
        channel = self.channel
        out = self._out
        handler = self.handler
        on_frames = handler.on_frames
        size = self._batch_size
        whole = False  # take every complete frame buffered
        first = True
        while True:
            pending = self._pending
            if pending:
                frames, self._pending = list(pending), ()
            else:
                try:
                    frames = channel.complete_frames(None if whole else size)
                except FrameTooLong as exc:
                    handler.on_frame_too_long(exc)
                    return None
                except ProtocolError as exc:
                    self._malformed(exc)
                    return None
                if not frames:  # as in _deliver_frames
                    return self._deliver_events(limit) if channel.raw else True
            n = len(frames)
            # A batch as long as it was allowed to be may have left frames behind:
            # it is measured (bytes of reply per byte of input) to size the next.
            # A shorter one took every frame buffered, and costs no measuring.
            sizing = n >= size or whole
            if sizing:
                before = out.buffered
                # The input it took, near enough (a one-byte delimiter): the ratio
                # only sizes batches, the output bound is checked per frame.
                took = sum(map(len, frames)) + n if first else 0
            first = False
            # The batch is checked per frame: a push that passes the limit while
            # on_frames iterates stops the iteration after the frame it answers,
            # and the frames not reached wait, in order, for the next batch. (The
            # callback stays set after the batch: an exhausted batch's cut is a
            # no-op, and the next gather() or stop_gathering() replaces it.)
            batch = Batch(frames)
            out.gather(limit, batch.cut)
            on_frames(batch)
            if batch.rest:
                self._pending = batch.rest
            if self.state is UPGRADING:
                return None  # start_tls(): the handler's output waits for the handshake
            # Past the limit, a close, or a producer: the full count decides.
            if (out.gathered is None or out.ready_size > limit) and out.buffered > limit:
                self._batch_size = max(1, n // 2)
                return None if out.closing else False
            if sizing:
                queued = out.buffered
                # Size the next batch from the replies to this one, so that a
                # reply built from a whole batch stays within the limit too.
                grew = queued - before
                if grew <= 0:
                    size = 2 * n  # no reply to go by: double
                else:
                    room = limit - queued
                    size = max(1, room * n // grew)
                    whole = bool(took) and channel.buffered_input * grew <= room * took
                self._batch_size = size
            if out.closing:
                return None
            # More frames, a frame too long, or a count that ended may follow.


class Batch(list):  # type: ignore[type-arg]
    """The frames handed to one :meth:`Handler.on_frames` call: a list that can stop
    the iteration in progress.

    When output passes the limit while the handler iterates over it, :meth:`cut`
    ends that iteration after the frame it handed out last; the frames not reached
    are kept in :attr:`rest` for a later batch.
    """

    # No __init__ (list's own, in C: one batch per read) and no slots: the two
    # attributes start as these class defaults, and are set per batch only when used.
    _it: Any = None
    #: The frames a :meth:`cut` took out, in order (the class's empty tuple until then).
    rest: Sequence[bytes] = ()

    def __iter__(self) -> Any:
        it = self._it = super().__iter__()
        return it

    def cut(self) -> None:
        """Stop the iteration in progress after the frame it handed out last."""
        it = self._it
        if it is None:
            return
        left = it.__length_hint__()
        if left:
            at = len(self) - left
            self.rest = [*self[at:], *self.rest]
            del self[at:]


def _channel_of(handler: object) -> Channel:
    """The channel of *handler*, or TypeError saying what is wrong with it."""
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
    channel = getattr(handler, "channel", None)
    if not isinstance(channel, Channel):
        raise TypeError(
            f"{type(handler).__name__}.__init__ did not call super().__init__(): "
            "the handler has no channel (call super().__init__() in its __init__)"
        )
    return channel


def start_handler(factory: Callable[[], object], log: logging.Logger = logger) -> Handler | None:
    """Make a server's handler for a new connection: ``factory()``, checked.

    Returns ``None`` (and logs one record naming the cause) if the factory raised or
    returned something that cannot run: the adapter then closes that connection
    only, and goes on serving.
    """
    try:
        handler = factory()
    except Exception:
        log.exception("handler_factory raised; dropping the connection")
        return None
    try:
        _channel_of(handler)
    except TypeError as exc:
        log.error("handler_factory returned an unusable handler (%s); dropping the connection", exc)
        return None
    return handler  # type: ignore[return-value]


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
