"""``Handler``: a callback-style protocol object that every adapter can run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._channel import Channel
from ._errors import FrameTooLong, ProtocolError
from ._events import TerminatorSpec
from ._framing import DEFAULT_MAX_FRAME_SIZE
from ._records import DEFAULT_MAX_RECORD_SIZE

if TYPE_CHECKING:
    from ._driver import Driver

__all__ = ["Handler"]


class Handler:
    """One side of one connection, written as callbacks; it does no I/O itself.

    Two styles, chosen by what a subclass overrides:

    - **whole frames**: :meth:`on_frame` gets each complete frame (terminator
      excluded), or the batch hook :meth:`on_frames` gets every complete frame one
      read finished, as a list;
    - **streaming**: :meth:`on_data` gets the payload in pieces and
      :meth:`on_terminator` the end of each frame (asynchat's style).

    Plus :meth:`on_connect`, :meth:`on_eof`, :meth:`on_close` and
    :meth:`on_frame_too_long`. From them call :meth:`push`,
    :meth:`push_with_producer`, :meth:`set_terminator`, :meth:`close_when_done`
    or :meth:`close`, and read :attr:`peername` and :attr:`closing`. The same
    subclass runs unchanged on the selectors, asyncio and trio adapters, and in
    tests with :mod:`asyncframe.testing`.

    A :class:`~asyncframe.Driver` runs it on a connection (every adapter uses
    one, and so can a test: feed the driver bytes, take its output). The
    connection's state is the driver's: this object holds what the protocol
    author writes and reads.

    Attributes set by ``__init__`` (a subclass's ``__init__`` must call
    ``super().__init__()``):

    - ``channel``: the :class:`Channel` this handler runs on, its framing state
      (``self.channel.trailing_data`` in :meth:`on_eof`) and output queue;
    - ``peername``: the peer's address as the transport reports it (``None``
      until connected, or where the transport has none);
    - ``driver``: the :class:`~asyncframe.Driver` running this handler (``None``
      before it starts and once the connection is gone).

    :param terminator: the initial terminator (default ``b"\\r\\n"``), by
        position or by name, as :class:`Channel` takes it.
    :param max_frame_size: passed on to the :class:`Channel`: a longer frame goes
        to :meth:`on_frame_too_long` instead of the frame callbacks.
    :param max_record_size: passed on to the :class:`Channel`: the longest count
        or record payload (see :attr:`Channel.max_record_size`); a longer one goes
        to :meth:`on_frame_too_long` too.
    """

    #: After :meth:`start_tls`, once the handshake completed: the TLS object of the
    #: connection (its ``getpeercert()``, ``version()``, ``cipher()``); ``None``
    #: before. (A class attribute until then: an idle connection pays nothing.)
    ssl_object: Any = None

    def __init__(
        self,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        #: The :class:`Channel` this handler runs on: its framing state (say,
        #: ``self.channel.trailing_data`` in :meth:`on_eof`) and its output queue.
        self.channel = Channel(
            terminator, max_frame_size=max_frame_size, max_record_size=max_record_size
        )
        #: The peer's address as the transport reports it (``None`` until connected,
        #: or where the transport has none).
        self.peername: Any = None
        #: The :class:`~asyncframe.Driver` running this handler on a connection
        #: (``None`` before it starts and once it is gone). Adapters use it; a
        #: protocol calls this object's own methods.
        self.driver: Driver | None = None
        self._out = self.channel.output

    # -- what a protocol overrides ---------------------------------------------------

    def on_connect(self) -> None:
        """Called once when the connection is established, before any data."""

    def on_frame(self, frame: bytes) -> None:
        """Called with each complete frame, terminator excluded (whole-frame style).

        A terminator set here applies from the next unread byte: a header line can
        announce a byte count (``set_terminator(n)``) and the next call gets those
        ``n`` bytes as one frame. While the terminator is ``None`` (also after a
        count completed) bytes are a stream, not frames: they go to :meth:`on_data`.
        At EOF an unterminated tail is in ``self.channel.trailing_data`` for
        :meth:`on_eof`.
        """

    def on_frames(self, frames: list[bytes]) -> None:
        """Called with the complete frames a read finished, in order, in batches.

        A batch holds every complete frame of the read, up to a number that keeps
        the queued output bounded: the first batch is one frame, and each later one
        holds as many frames as the replies to the batch before, at their size,
        leave room for under the adapter's ``high_water`` (or every complete frame
        buffered, when their replies fit), so a peer whose requests are answered
        with small replies gets whole reads per call from the second batch on, and
        one whose replies are large gets one frame per call (and no more input
        until its output drains).

        The frames were all split by the terminator in force when the batch was
        taken: a terminator set here applies from the first byte after the batch's
        last frame, so a protocol that changes terminators mid-stream should
        override :meth:`on_frame` instead. The default calls :meth:`on_frame` for
        each frame, and stops delivering them once :meth:`close` or
        :meth:`close_when_done` was called.
        """
        on_frame = self.on_frame
        out = self._out
        for frame in frames:
            on_frame(frame)
            if out.closing:
                return

    def on_data(self, data: bytes) -> None:
        """Called with payload bytes of the current frame (possibly in several pieces)."""

    def on_terminator(self, terminator: bytes | int) -> None:
        """Called when the current terminator is reached (the matched bytes, or the count)."""

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        """Called when a frame exceeds ``max_frame_size``; the default closes the connection.

        The frame's bytes were discarded. Override it to answer and go on: the
        next frame starts after the rejected one's terminator.
        """
        self.close()

    def on_protocol_error(self, error: ProtocolError) -> None:
        """Called when the peer's input is malformed (a record kind's bad header, say):
        the channel can read none of it any more.

        The connection then closes once the output already pushed is sent; the
        default does nothing more. Override it to answer first, as Redis answers
        ``-ERR Protocol error``: push the reply here.
        """

    def on_eof(self) -> None:
        """Called when the peer has closed its side, after the last input callback.

        Output pushed here is still sent before the connection closes: answer an
        unterminated last request here.
        """

    def on_close(self) -> None:
        """Called once when the connection is gone, whoever closed it."""

    def on_tls_started(self) -> None:
        """Called once the TLS handshake :meth:`start_tls` asked for has completed.

        :attr:`ssl_object` is set by then (the peer's certificate is its
        ``getpeercert()``). Output pushed since :meth:`start_tls` goes out after
        this, over TLS.
        """

    # -- what a protocol calls -------------------------------------------------------

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* for sending (see :meth:`Channel.push`).

        Pushes made from the callbacks of one read are joined into one chunk
        before they are sent. Raises
        :exc:`~asyncframe.SendAfterClose` after :meth:`close`,
        :meth:`close_when_done` or the end of the connection.
        """
        out = self._out
        gathered = out.gathered
        if gathered is not None and type(data) is bytes:
            # A reply from a callback: the queue's gathering protocol, inlined (a
            # server pushes once or twice per frame). No wakeup either: the
            # driver's caller sends right after the callback.
            gathered.append(data)
            out.ready_size += len(data)
            if out.ready_size > out.limit:
                out.overflow()
            return
        out.push(data)
        self._notify()

    def push_with_producer(self, producer: object) -> None:
        """Queue a producer for sending (see :meth:`Channel.push_with_producer`)."""
        self._out.push_producer(producer)
        self._notify()

    def set_terminator(self, terminator: TerminatorSpec) -> None:
        """Set the terminator, from the next unread byte on (see :meth:`Channel.set_terminator`)."""
        self.channel.set_terminator(terminator)

    def get_terminator(self) -> TerminatorSpec:
        """Return the current terminator."""
        return self.channel.get_terminator()

    def start_tls(
        self,
        context: Any,
        *,
        server_side: bool = True,
        server_hostname: str | None = None,
    ) -> None:
        """Upgrade the connection to TLS right after the output pushed so far
        (STARTTLS, STLS, ``AUTH TLS``).

        The output already pushed (the ``220 Ready to start TLS`` reply) is sent in
        clear text; the next byte on the wire is the handshake's, with *context*,
        an :class:`ssl.SSLContext` (a server context for ``server_side=True``, else
        a client context checking *server_hostname*). Output pushed after this
        call waits for the handshake and goes over TLS; :meth:`on_tls_started`
        runs when it completes. No more input is dispatched until then: input
        received past the command that asked for TLS (a ``MAIL FROM`` in the
        segment of ``STARTTLS``) was sent in clear text, so it closes the
        connection unread (logged as a warning), as does a failed handshake or
        one slower than the adapter's ``tls_handshake_timeout``; only this
        connection is affected.

        Raises :exc:`TypeError` or :exc:`ValueError` for a bad argument, and
        :exc:`RuntimeError` if the connection is not open (not started, closing,
        upgrading already, or the peer's EOF received).
        """
        driver = self.driver
        if driver is None:
            raise RuntimeError("start_tls() needs a running connection")
        driver.start_tls(context, server_side=server_side, server_hostname=server_hostname)

    def close_when_done(self) -> None:
        """Close the connection once everything queued so far has been sent.

        Input that arrives after this call, or is still unread, is not dispatched.
        """
        self.channel.close_when_done()
        self._notify()

    def close(self) -> None:
        """Close the connection now; output not yet sent is dropped, input not dispatched."""
        driver = self.driver
        if driver is not None:
            driver.abort()
        else:
            self._out.refuse_more("close()")
            self._out.clear()

    @property
    def closing(self) -> bool:
        """True once :meth:`close` or :meth:`close_when_done` was called, or the
        connection ended."""
        return self._out.closing

    @property
    def buffered_output(self) -> int:
        """Bytes queued for sending and not taken yet (what backpressure watches)."""
        return self._out.buffered

    def _notify(self) -> None:
        driver = self.driver
        if driver is not None:
            driver.notify()
