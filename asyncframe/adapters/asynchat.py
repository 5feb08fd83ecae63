"""The classic ``asynchat`` API, as a drop-in module built on :class:`asyncframe.Channel`.

Replace ``import asynchat`` with ``from asyncframe.adapters import asynchat`` and old
code runs unchanged, on Python 3.11 and on 3.12+ where the stdlib module is gone.
:class:`async_chat` is an ``asyncore.dispatcher`` (the stdlib ``asyncore`` up to 3.11,
the ``pyasyncore`` package from 3.12), so it mixes with other dispatchers in one
channel map and runs under ``asyncore.loop()``.

Framing and the producer fifo are the :class:`~asyncframe.Channel`'s: this module only
maps the socket and the classic callbacks onto it. The callbacks come in the same
order, with the same data boundaries, as from the stdlib class; what is faster is the
framing itself, which stays linear where the stdlib re-slices its buffer per frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

from asyncframe import NEED_DATA, Channel, Data, TerminatorSpec, fifo, simple_producer
from asyncframe._framing import find_prefix_at_end as _bytes_prefix_at_end
from asyncframe._producers import _CLOSE

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


class _EncodingProducer:
    """Encodes the ``str`` a classic producer returns, for ``use_encoding``."""

    def __init__(self, producer: Any, encoding: str) -> None:
        self._producer = producer
        self._encoding = encoding

    def more(self) -> bytes:
        data = self._producer.more()
        if isinstance(data, str):
            return data.encode(self._encoding)
        return data  # type: ignore[no-any-return]


class _ProducerFifo:
    """A live view of the channel's output queue, for code that reads ``producer_fifo``.

    ``len()``, truthiness and iteration see the queued items (buffers, producers and
    a pending close, shown as ``None``); ``append`` and ``clear`` act on the queue as
    on the classic deque (``append(None)`` asks to close when done).
    """

    def __init__(self, chat: async_chat) -> None:
        self._chat = chat

    def __len__(self) -> int:
        return len(self._chat._channel._out)

    def __bool__(self) -> bool:
        return len(self._chat._channel._out) > 0

    def __iter__(self) -> Iterator[Any]:
        out = self._chat._channel._out
        yield from out._ready
        yield from (None if item is _CLOSE else item for item in out._fifo)

    def append(self, item: Any) -> None:
        """Queue *item*: bytes, a producer, or None (close when done)."""
        if item is None:
            self._chat._channel.close_when_done()
        else:
            self._chat._queue_producer(item)

    def clear(self) -> None:
        """Drop everything queued for output."""
        self._chat._channel._out.clear()

    def __repr__(self) -> str:
        return f"producer_fifo({list(self)!r})"


class async_chat(asyncore.dispatcher):
    """An ``asyncore.dispatcher`` for terminator-framed protocols (the classic class).

    Subclass it and define :meth:`collect_incoming_data` and :meth:`found_terminator`;
    set the terminator with :meth:`set_terminator` and send with :meth:`push` or
    :meth:`push_with_producer`.
    """

    #: The size of each ``recv()`` (the documented default, 4096).
    ac_in_buffer_size: ClassVar[int] = 4096
    #: The most bytes handed to one ``send()`` (the documented default, 4096).
    ac_out_buffer_size: ClassVar[int] = 4096
    #: If true, ``str`` terminators and ``str`` output are encoded with :attr:`encoding`.
    use_encoding: ClassVar[int | bool] = 0
    #: The encoding used when :attr:`use_encoding` is true.
    encoding: ClassVar[str] = "latin-1"

    def __init__(self, sock: Any = None, map: Any = None) -> None:
        self._channel = Channel(None, max_frame_size=1 << 62)
        self._empty_terminator: Any = None
        self._dispatching = False
        #: The classic list that :meth:`_collect_incoming_data` fills.
        self.incoming: list[bytes] = []
        #: A live view of the output queue (see :class:`_ProducerFifo`).
        self.producer_fifo = _ProducerFifo(self)
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
        if isinstance(term, int) and not isinstance(term, bool) and term < 0:
            raise ValueError("the number of received bytes must be positive")
        spec: TerminatorSpec = term
        empty: Any = None
        if isinstance(term, (bytes, bytearray, str)) and not term:
            spec, empty = None, term
        self._channel.set_terminator(spec)
        self._empty_terminator = empty

    def get_terminator(self) -> Any:
        """Return the terminator; a running count reads the bytes still expected."""
        term = self._channel.terminator
        if term is None and self._empty_terminator is not None:
            return self._empty_terminator
        return term

    @property
    def terminator(self) -> Any:
        """The terminator, as :meth:`get_terminator` returns it; assigning sets it."""
        return self.get_terminator()

    @terminator.setter
    def terminator(self, term: Any) -> None:
        self.set_terminator(term)

    @property
    def ac_in_buffer(self) -> bytes:
        """The received bytes not yet reported (such as a held-back partial terminator)."""
        return self._channel._unread()

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
        if not data:
            # EOF: dispatcher.recv() has called handle_close(); as the classic class,
            # held-back bytes stay in ac_in_buffer.
            return
        channel = self._channel
        channel.receive_data(data)
        collect = self.collect_incoming_data
        found = self.found_terminator
        # Replies pushed by the callbacks below go out together, once they are done.
        self._dispatching = True
        try:
            while True:
                event = channel.next_event()
                if event is NEED_DATA:
                    break
                if type(event) is Data:
                    collect(event.data)
                else:
                    found()
        finally:
            self._dispatching = False
        if self._channel._out.has_output() or self._channel.wants_close:
            self.initiate_send()

    # -- output ----------------------------------------------------------------------

    def _queue_producer(self, producer: Any) -> None:
        if self._channel.closing:
            return  # as the classic class: output queued after close_when_done is never sent
        if isinstance(producer, str) and self.use_encoding:
            producer = producer.encode(self.encoding)
        elif self.use_encoding and hasattr(producer, "more"):
            producer = _EncodingProducer(producer, self.encoding)
        self._channel.push_with_producer(producer)

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* (bytes, bytearray or memoryview) and try to send."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be byte-ish ({type(data)!r})")
        out = self._channel._out
        if not out.closing:
            out.push(data)
        if not self._dispatching:
            self.initiate_send()

    def push_with_producer(self, producer: Any) -> None:
        """Queue a producer (an object with ``more()``, or bytes) and try to send."""
        if producer is None:
            self._channel.close_when_done()
        else:
            self._queue_producer(producer)
        if not self._dispatching:
            self.initiate_send()

    def close_when_done(self) -> None:
        """Close the channel once everything queued so far has been sent."""
        self._channel.close_when_done()

    def refill_buffer(self) -> None:
        """Pull producers until ``ac_out_buffer_size`` bytes are ready to send."""
        self._channel.peek_output(self.ac_out_buffer_size)

    def initiate_send(self) -> None:
        """Send what the socket takes of the next output; close if that was all."""
        if not self.connected:
            return
        out = self._channel._out
        data = out.peek(self.ac_out_buffer_size)
        if not data:
            if out.wants_close:
                out.finish_close()
                self.handle_close()
            return
        try:
            sent = self.send(data)
        except OSError:
            self.handle_error()
            return
        if sent:
            out.consume(sent)

    def discard_buffers(self) -> None:
        """Drop pending input and output (emergencies only)."""
        self._channel.discard_buffers()
        del self.incoming[:]

    # -- asyncore hooks --------------------------------------------------------------

    def readable(self) -> bool:
        """Always true: the terminator, not the buffer, decides what is read."""
        return True

    def writable(self) -> bool:
        """True while output (or a close) is pending, or before the connection is up."""
        return bool(self.producer_fifo) or not self.connected

    def handle_write(self) -> None:
        """The socket can take data: send some."""
        self.initiate_send()

    def handle_close(self) -> None:
        """The connection is closing: close the socket."""
        self.close()
