"""The classic ``asynchat`` API, as a drop-in module built on :class:`asyncframe.Channel`.

Replace ``import asynchat`` with ``from asyncframe.adapters import asynchat`` and old
code runs unchanged, on Python 3.11 and on 3.12+ where the stdlib module is gone.
:class:`async_chat` is an ``asyncore.dispatcher`` (the stdlib ``asyncore`` up to 3.11,
the ``pyasyncore`` package from 3.12), so it mixes with other dispatchers in one
channel map and runs under ``asyncore.loop()``.

Input is framed by a :class:`~asyncframe.Channel`, in linear time where the stdlib
class re-slices its buffer once per frame; the callbacks come in the same order,
with the same data boundaries. Output keeps the classic ``producer_fifo`` deque and
sends exactly as the stdlib class does: every ``push()`` tries a ``send()`` at once,
and each ``send()`` gets the head of the queue, so servers that read or rewrap the
socket right after a push (STARTTLS) see what they expect.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any, ClassVar

from asyncframe import NEED_DATA, Channel, Data, TerminatorSpec, fifo, simple_producer
from asyncframe import find_prefix_at_end as _bytes_prefix_at_end

with warnings.catch_warnings():
    # The stdlib asyncore (Python <= 3.11) warns on import; pyasyncore (3.12+) does not.
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore

__all__ = ["async_chat", "fifo", "find_prefix_at_end", "simple_producer"]


def find_prefix_at_end(haystack: Any, needle: Any) -> int:
    """Return the length of the longest proper prefix of *needle* that ends *haystack*.

    As the classic helper, this accepts ``str`` as well as bytes.
    """
    if isinstance(haystack, (bytes, bytearray)) and isinstance(needle, (bytes, bytearray)):
        return _bytes_prefix_at_end(haystack, bytes(needle))
    for size in range(min(len(needle) - 1, len(haystack)), 0, -1):
        if haystack.endswith(needle[:size]):
            return size
    return 0


def _no_frame_limit() -> Any:
    """The ``max_frame_size`` that lets a frame be of any length, as asynchat's were."""
    try:
        Channel(None, max_frame_size=None)  # type: ignore[arg-type,unused-ignore]
    except TypeError:
        # A core that takes only an int limit: one no read can reach.
        return 1 << 62
    return None


_NO_FRAME_LIMIT = _no_frame_limit()


class async_chat(asyncore.dispatcher):
    """An ``asyncore.dispatcher`` for terminator-framed protocols (the classic class).

    Subclass it and define :meth:`collect_incoming_data` and :meth:`found_terminator`;
    set the terminator with :meth:`set_terminator` and send with :meth:`push` or
    :meth:`push_with_producer`.
    """

    #: The size of each ``recv()`` (65536, as in the stdlib code).
    ac_in_buffer_size: ClassVar[int] = 65536
    #: The most bytes handed to one ``send()`` (65536, as in the stdlib code).
    ac_out_buffer_size: ClassVar[int] = 65536
    #: If true, ``str`` terminators and ``str`` producer output are encoded with :attr:`encoding`.
    use_encoding: ClassVar[int | bool] = 0
    #: The encoding used when :attr:`use_encoding` is true.
    encoding: ClassVar[str] = "latin-1"

    def __init__(self, sock: Any = None, map: Any = None) -> None:
        self._channel = Channel(None, max_frame_size=_NO_FRAME_LIMIT, max_record_size=None)
        # The terminator as asynchat reports it (0, None and b"" all mean "none"; the
        # channel gets None for each). While a count runs, _counting is true and the
        # channel holds the bytes still expected.
        self._term: Any = None
        self._counting = False
        # The data handed to collect_incoming_data() while it runs: asynchat still
        # counts it in ac_in_buffer and in a running count.
        self._inflight = b""
        # A terminator set inside collect_incoming_data(), applied once it returns.
        self._pending: tuple[Any] | None = None
        self._framed = False
        self._frame_term = b""
        self._by_frames = False
        #: The classic list that :meth:`_collect_incoming_data` fills.
        self.incoming: list[bytes] = []
        #: The output queue: bytes-like items, producers, and None (close when done).
        self.producer_fifo: deque[Any] = deque()
        asyncore.dispatcher.__init__(self, sock, map)

    # -- what a subclass defines -----------------------------------------------------

    def collect_incoming_data(self, data: bytes) -> None:
        """Called with received bytes of the current frame; define it in a subclass."""
        raise NotImplementedError("must be implemented in subclass")

    def found_terminator(self) -> None:
        """Called when the terminator is reached; define it in a subclass."""
        raise NotImplementedError("must be implemented in subclass")

    def _collect_incoming_data(self, data: bytes) -> None:
        """Append *data* to :attr:`incoming` (a ready-made collect_incoming_data)."""
        self.incoming.append(data)

    def _get_data(self) -> bytes:
        """Return and clear what :meth:`_collect_incoming_data` collected."""
        data = b"".join(self.incoming)
        del self.incoming[:]
        return data

    # -- terminator ------------------------------------------------------------------

    def set_terminator(self, term: Any) -> None:
        """Set the terminator: bytes, an int count, None, or (beyond asynchat) a tuple.

        A falsy terminator (``None``, ``0``, ``b""``) collects everything. With
        :attr:`use_encoding`, a ``str`` terminator is encoded. A negative count
        raises :exc:`ValueError`.
        """
        if isinstance(term, str) and self.use_encoding:
            term = term.encode(self.encoding)
        elif isinstance(term, int) and term < 0:
            raise ValueError("the number of received bytes must be positive")
        if self._inflight:
            # Inside collect_incoming_data(): asynchat has already decided where this
            # data ends, so the new terminator takes effect after it (see handle_read).
            self._pending = (term,)
        else:
            self._apply_terminator(term)

    def _apply_terminator(self, term: Any) -> None:
        # The channel's 0 is an empty frame; asynchat's falsy terminators mean "none".
        spec: TerminatorSpec = term if term else None
        if spec is True:
            spec = 1  # asynchat counts with True as with 1
        self._channel.set_terminator(spec)
        self._term = term
        self._counting = bool(term) and isinstance(term, int)
        # Bytes and counts are framed whole where they can be; _frame_term is what
        # ends such a frame (ac_in_buffer shows it while the frame is collected).
        self._framed = isinstance(spec, (bytes, bytearray, memoryview, int))
        self._frame_term = bytes(spec) if isinstance(spec, (bytes, bytearray, memoryview)) else b""

    def get_terminator(self) -> Any:
        """Return the terminator; a running count reads the bytes still expected."""
        if self._pending is not None:
            return self._pending[0]
        if self._counting:
            # asynchat subtracts a chunk from the count after collect_incoming_data();
            # the channel has, and reads 0 or None once the count is complete.
            left = self._channel.terminator
            return (left if isinstance(left, int) else 0) + len(self._inflight)
        return self._term

    @property
    def terminator(self) -> Any:
        """The terminator, as :meth:`get_terminator` returns it; assigning sets it."""
        return self.get_terminator()

    @terminator.setter
    def terminator(self, term: Any) -> None:
        self.set_terminator(term)

    @property
    def ac_in_buffer(self) -> bytes:
        """The received bytes not yet reported, as asynchat's attribute of that name.

        Between reads this is what the terminator holds back (such as a partial
        terminator); inside :meth:`collect_incoming_data` it still starts with the
        data being collected, as in asynchat.
        """
        unread = self._channel._unread()
        if not self._inflight:
            return unread
        if self._by_frames:  # the frame's terminator is consumed already
            return self._inflight + self._frame_term + unread
        return self._inflight + unread

    @ac_in_buffer.setter
    def ac_in_buffer(self, data: bytes) -> None:
        self._channel._discard_input()
        if data:
            self._channel.receive_data(data)

    # -- input -----------------------------------------------------------------------

    def handle_read(self) -> None:
        """Read from the socket and call the collect/found callbacks for what arrived."""
        try:
            data = self.recv(self.ac_in_buffer_size)
        except BlockingIOError:
            return
        except OSError:
            self.handle_error()
            return
        if isinstance(data, str) and self.use_encoding:
            data = data.encode(self.encoding)
        channel = self._channel
        if data:
            channel.receive_data(data)
        # At EOF, dispatcher.recv() has called handle_close() and returned b""; as in
        # asynchat, what the buffer still holds is framed all the same.
        # The callbacks are looked up on each call, as asynchat does: a protocol may
        # swap them from inside one another.
        try:
            while True:
                if self._framed:
                    # Whole frames first (the fast path); a terminator changed by a
                    # callback applies from the next unread byte, as in asynchat.
                    self._by_frames = True
                    for frame in channel.frames():
                        counted = self._counting
                        if frame:  # asynchat reports no empty data
                            self._inflight = frame
                            self.collect_incoming_data(frame)
                            self._inflight = b""
                            if self._pending is not None:
                                self._set_while_collecting(len(frame), True)
                        if counted:
                            # asynchat reads 0 once a count has completed.
                            self._counting = False
                            self._term = 0
                        self.found_terminator()
                    self._by_frames = False
                # What no complete frame holds: data up to a held-back partial
                # terminator, a part of a count, or everything under no terminator.
                event = channel.next_event()
                if event is NEED_DATA:
                    break
                if type(event) is Data:
                    data = event.data
                    self._inflight = data
                    self.collect_incoming_data(data)
                    self._inflight = b""
                    if self._pending is not None and self._set_while_collecting(len(data), False):
                        break
                else:
                    if self._counting:
                        self._counting = False
                        self._term = 0
                    self.found_terminator()
        finally:
            self._inflight = b""
            self._by_frames = False
            if self._pending is not None:  # a callback raised after setting it
                self._apply_terminator(self._pending[0])
                self._pending = None

    def _set_while_collecting(self, size: int, framed: bool) -> bool:
        """Apply a terminator set inside collect_incoming_data() as asynchat does.

        asynchat had found where the collected *size* bytes end before the call: at
        a terminator, which it consumes and reports with found_terminator() before
        the new one applies (*framed*: the channel has consumed it too); or at the
        end of what it could frame, where it stops until the next read. A running
        count is reduced by *size* from the new value; a completed one ignores the
        change. Returns true to stop framing.
        """
        assert self._pending is not None
        (term,) = self._pending
        self._pending = None
        channel = self._channel
        if self._counting:
            if channel.terminator and not framed:
                self._apply_terminator(term - size)
            return False
        if framed:
            self._apply_terminator(term)
            return False
        event = channel.next_event()
        self._apply_terminator(term)
        if event is NEED_DATA:
            return True
        self.found_terminator()
        return False

    # -- output ----------------------------------------------------------------------

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* (bytes, bytearray or memoryview) and try to send at once."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be byte-ish ({type(data)!r})")
        size = self.ac_out_buffer_size
        if len(data) > size:
            for start in range(0, len(data), size):
                self.producer_fifo.append(data[start : start + size])
        else:
            self.producer_fifo.append(data)
        self.initiate_send()

    def push_with_producer(self, producer: Any) -> None:
        """Queue a producer (an object with ``more()``, or bytes) and try to send at once."""
        self.producer_fifo.append(producer)
        self.initiate_send()

    def close_when_done(self) -> None:
        """Close the channel once everything queued so far has been sent."""
        self.producer_fifo.append(None)

    def initiate_send(self) -> None:
        """Make one ``send()`` of the head of the queue; close if a close is due.

        As asynchat: producers at the head are pulled until one hands out bytes,
        which are sent in one ``send()`` of at most :attr:`ac_out_buffer_size`
        bytes; what the socket did not take stays at the head.
        """
        queue = self.producer_fifo
        while queue and self.connected:
            first = queue[0]
            if not first:
                # An empty item is dropped (asynchat still passes b"" to one send()).
                del queue[0]
                if first is None:
                    self.handle_close()
                    return
            size = self.ac_out_buffer_size
            try:
                data = first[:size]
            except TypeError:
                data = first.more()
                if data:
                    queue.appendleft(data)
                else:
                    del queue[0]
                continue
            if isinstance(data, str) and self.use_encoding:
                data = data.encode(self.encoding)
            try:
                sent = self.send(data)
            except OSError:
                self.handle_error()
                return
            if sent:
                if sent < len(data) or size < len(first):
                    queue[0] = first[sent:]
                else:
                    del queue[0]
            return

    def discard_buffers(self) -> None:
        """Drop pending input and output (emergencies only)."""
        self._channel._discard_input()
        del self.incoming[:]
        self.producer_fifo.clear()

    # -- asyncore hooks --------------------------------------------------------------

    def readable(self) -> bool:
        """Always true: the terminator, not the buffer, decides what is read."""
        return True

    def writable(self) -> bool:
        """True while output (or a close) is queued, or before the connection is up."""
        return bool(self.producer_fifo) or not self.connected

    def handle_write(self) -> None:
        """The socket can take data: send some."""
        self.initiate_send()

    def handle_close(self) -> None:
        """The connection is closing: close the socket."""
        self.close()
