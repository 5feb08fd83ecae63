"""``Handler``: a callback-style protocol object that every adapter can run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ._channel import Channel
from ._errors import FrameTooLong, SendAfterClose
from ._events import NEED_DATA, ConnectionClosed, Data, TerminatorSpec
from ._framing import DEFAULT_MAX_FRAME_SIZE

__all__ = ["Handler"]

# How a Handler subclass takes its input, decided once per class.
_STREAM = 0  # on_data / on_terminator
_FRAME = 1  # on_frame, one frame at a time
_BATCH = 2  # on_frames, one list per read

# "No output limit" for the driver methods that dispatch everything.
_UNLIMITED = 1 << 62


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
    one, and so can a test: feed the driver bytes, take its output); the driver
    calls the *driver* methods (:meth:`connection_made`, :meth:`dispatch`,
    :meth:`connection_lost`), a protocol author never does.

    :param terminator: the initial terminator (default ``b"\\r\\n"``).
    :param max_frame_size: passed on to the :class:`Channel`: a longer frame goes
        to :meth:`on_frame_too_long` instead of the frame callbacks.
    """

    _style: ClassVar[int] = _STREAM

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.on_frames is not Handler.on_frames:
            cls._style = _BATCH
        elif cls.on_frame is not Handler.on_frame:
            cls._style = _FRAME
        else:
            cls._style = _STREAM

    def __init__(
        self,
        *,
        terminator: TerminatorSpec = b"\r\n",
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        #: The :class:`Channel` this handler runs on.
        self.channel = Channel(terminator, max_frame_size=max_frame_size)
        #: The peer's address as the transport reports it (``None`` until connected,
        #: or where the transport has none).
        self.peername: Any = None
        self._out = self.channel._out
        self._wakeup: Callable[[], None] | None = None
        self._abort = False
        self._connected = False
        self._closed = False
        self._shut = False  # no more output is accepted: close() or the end
        # Frames per on_frames() batch. The replies to a batch cannot be stopped
        # half-way, so the first batch is one frame and each later one is sized from
        # the replies to the one before: as many frames as the room left under the
        # driver's limit takes at its reply bytes per frame (double, if it replied
        # nothing); every complete frame buffered when the replies to every buffered
        # byte fit, at its reply bytes per input byte; and a batch whose replies pass
        # the limit halves the next. Memory stays within the limit plus the replies
        # to one batch, whatever one read holds.
        self._batch_size = 1

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
            if out._closing:
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

    def on_eof(self) -> None:
        """Called when the peer has closed its side, after the last input callback.

        Output pushed here is still sent before the connection closes: answer an
        unterminated last request here.
        """

    def on_close(self) -> None:
        """Called once when the connection is gone, whoever closed it."""

    # -- what a protocol calls -------------------------------------------------------

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* for sending (see :meth:`Channel.push`).

        Pushes made from the callbacks of one read are joined into one chunk
        before they are sent. Raises
        :exc:`~asyncframe.SendAfterClose` after :meth:`close`,
        :meth:`close_when_done` or the end of the connection.
        """
        out = self._out
        gathered = out._gathered
        if gathered is not None and type(data) is bytes:
            # A reply from a callback: OutputQueue.push's gathering path, inlined
            # (a server pushes once or twice per frame). No wakeup either: the
            # dispatch's caller sends right after it.
            gathered.append(data)
            out._ready_len += len(data)
            return
        if self._shut:
            self._refuse("push()")
        out.push(data)
        self._notify()

    def push_with_producer(self, producer: object) -> None:
        """Queue a producer for sending (see :meth:`Channel.push_with_producer`)."""
        if self._shut:
            self._refuse("push_with_producer()")
        self.channel.push_with_producer(producer)
        self._notify()

    def _refuse(self, what: str) -> None:
        why = "the connection ended" if self._closed else "close()"
        raise SendAfterClose(f"{what} after {why}: the output would never be sent")

    def set_terminator(self, terminator: TerminatorSpec) -> None:
        """Set the terminator, from the next unread byte on (see :meth:`Channel.set_terminator`)."""
        self.channel.set_terminator(terminator)

    def get_terminator(self) -> TerminatorSpec:
        """Return the current terminator."""
        return self.channel.get_terminator()

    def close_when_done(self) -> None:
        """Close the connection once everything queued so far has been sent.

        Input that arrives after this call, or is still unread, is not dispatched.
        """
        self.channel.close_when_done()
        self._notify()

    def close(self) -> None:
        """Close the connection now; output not yet sent is dropped, input not dispatched."""
        self._abort = True
        self._shut = True
        self._out.refuse_more()
        self._notify()

    @property
    def closing(self) -> bool:
        """True once :meth:`close` or :meth:`close_when_done` was called, or the
        connection ended."""
        return self._abort or self._out._closing or self._closed

    # -- the driver interface, for adapters ------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`connection_lost` ran."""
        return self._closed

    @property
    def wants_close(self) -> bool:
        """True if the connection should close once the output taken so far is
        sent (at once, sending nothing more, if :attr:`wants_abort`)."""
        return self._abort or self.channel.wants_close

    @property
    def wants_abort(self) -> bool:
        """True if :meth:`close` was called: close at once, without sending more."""
        return self._abort

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        """Register *callback*, called when output is queued or a close is asked for.

        Adapters use it to learn about pushes made outside a callback (from a
        timer or another task of the same event loop).
        """
        self._wakeup = callback

    def _notify(self) -> None:
        if self._wakeup is not None:
            self._wakeup()

    def connection_made(self) -> None:
        """Driver: the connection is up; calls :meth:`on_connect` once."""
        if not self._connected:
            self._connected = True
            self.on_connect()

    def dispatch(self, output_limit: int | None = None) -> bool:
        """Driver: run the input callbacks for the bytes the channel holds.

        Returns true once every complete frame (or event) was delivered, or the
        handler asked to close; false if it stopped because more than
        *output_limit* bytes of output are queued (call it again when they have
        been sent: the rest of the input waits in the channel).
        """
        limit = _UNLIMITED if output_limit is None else output_limit
        style = self._style
        out = self._out
        # What the callbacks push is gathered, and joined once when the queue is
        # read: many small pushes per read cost one list append each.
        out.gather()
        try:
            while True:
                if out._closing:  # close() or close_when_done(), by any door
                    return True
                if style == _STREAM:
                    done = self._dispatch_events(limit)
                elif style == _FRAME:
                    done = self._dispatch_frames(limit)
                else:
                    done = self._dispatch_batches(limit)
                if done is not None:
                    return done
                # A close was asked for, or the terminator changed: look again.
        finally:
            out.stop_gathering()

    def _no_frame(self, limit: int) -> bool | None:
        """The frame styles found no complete frame: done, unless the terminator is
        None (also after a count), where the bytes are a stream for on_data."""
        if self.channel.get_terminator() is None:
            return self._dispatch_events(limit)
        return True

    def _dispatch_events(self, limit: int) -> bool | None:
        channel = self.channel
        out = self._out
        # A new terminator applies from the next event on. (A frame style streams
        # here only while the terminator is None, and then one Data event takes
        # every byte buffered: the next dispatch is back to frames.)
        while True:
            try:
                event = channel.next_event()
            except FrameTooLong as exc:
                self.on_frame_too_long(exc)
                if out._closing:
                    return None
                continue
            if event is NEED_DATA or type(event) is ConnectionClosed:
                return True
            if type(event) is Data:
                self.on_data(event.data)
            else:
                self.on_terminator(event.terminator)  # type: ignore[union-attr]
            if out._gathered is None or out._ready_len > limit:  # see _dispatch_frames
                if out._closing:
                    return None
                if out.buffered > limit:
                    return False

    def _dispatch_frames(self, limit: int) -> bool | None:
        out = self._out
        on_frame = self.on_frame
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
                    if out._gathered is None or out._ready_len > limit:
                        if out._closing:
                            return None
                        if out.buffered > limit:
                            return False
        except FrameTooLong as exc:
            self.on_frame_too_long(exc)
            return None
        return self._no_frame(limit)

    def _dispatch_batches(self, limit: int) -> bool | None:
        channel = self.channel
        complete_frames = channel.complete_frames
        on_frames = self.on_frames
        out = self._out
        size = self._batch_size
        whole = False  # take every complete frame buffered
        # The first batch of a call also measures the input it took (bytes of reply
        # per byte of input); after new data no batch of the channel is out, so
        # buffered_input costs little here.
        left = channel.buffered_input
        while True:
            try:
                batch = complete_frames(None if whole else size)
            except FrameTooLong as exc:
                self.on_frame_too_long(exc)
                return None
            if not batch:
                return self._no_frame(limit)
            n = len(batch)  # before on_frames, which may change the list
            took = left - channel.buffered_input if left else 0
            left = 0
            before = out.buffered
            on_frames(batch)
            queued = out.buffered
            if queued > limit:
                self._batch_size = max(1, n // 2)
                return None if out._closing else False
            if n == size or whole:
                grew = queued - before
                if grew <= 0:
                    size = 2 * n  # no reply to go by: double
                else:
                    room = limit - queued
                    size = max(1, room * n // grew)
                    whole = bool(took) and channel.buffered_input * grew <= room * took
                self._batch_size = size
            if out._closing:
                return None
            # More frames, a frame too long, or a count that ended may follow.

    @property
    def peer_closed(self) -> bool:
        """True once the peer's EOF was received."""
        return self.channel.eof

    @property
    def buffered_output(self) -> int:
        """Bytes queued for sending and not taken yet (what backpressure watches)."""
        return self.channel.buffered_output

    def connection_lost(self) -> None:
        """Driver: the connection is gone; calls :meth:`on_close` once."""
        if not self._closed:
            self._closed = True
            self._shut = True
            self._out.refuse_more()
            self._wakeup = None
            self.on_close()
