"""The outbound half: the producer fifo, and the classic producer helpers."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from ._errors import SendAfterClose

__all__ = ["OutputQueue", "Producer", "fifo", "simple_producer"]

_T = TypeVar("_T")


@runtime_checkable
class Producer(Protocol):
    """Anything with a ``more()`` method that returns the next bytes, ``b""`` when done."""

    def more(self) -> bytes:
        """Return the next bytes to send, or ``b""`` when there are no more."""
        ...


def _as_bytes(data: object, what: str) -> bytes:
    """Return *data* as immutable bytes, or raise TypeError naming *what*."""
    if type(data) is bytes:
        return data
    if isinstance(data, (str, int)):
        hint = " (encode it first)" if isinstance(data, str) else ""
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}{hint}")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}") from None
    with view:
        return view.tobytes()


class simple_producer:
    """A producer that hands out *data* in pieces of at most *buffer_size* bytes.

    Unlike the classic one it never re-slices the rest of *data*, so a large
    buffer costs linear time.
    """

    def __init__(self, data: bytes | bytearray | memoryview, buffer_size: int = 512) -> None:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
            raise TypeError(f"buffer_size must be an int, not {type(buffer_size).__name__}")
        if buffer_size <= 0:
            raise ValueError(f"buffer_size must be > 0, not {buffer_size}")
        self._data = _as_bytes(data, "data")
        self._offset = 0
        self.buffer_size = buffer_size

    @property
    def data(self) -> bytes:
        """The bytes not yet handed out."""
        return self._data[self._offset :]

    def more(self) -> bytes:
        """Return the next piece of at most ``buffer_size`` bytes, ``b""`` at the end."""
        start = self._offset
        if start == 0 and len(self._data) <= self.buffer_size:
            result = self._data
        else:
            result = self._data[start : start + self.buffer_size]
        self._offset = start + len(result)
        return result


class fifo(Generic[_T]):
    """The classic first-in first-out queue of ``asynchat``.

    ``pop()`` returns ``(True, item)``, or ``(False, None)`` when the queue is empty.
    """

    def __init__(self, list: Iterable[_T] | None = None) -> None:
        self.list: deque[_T] = deque(list) if list else deque()

    def __len__(self) -> int:
        return len(self.list)

    def is_empty(self) -> bool:
        """Return true if the queue holds nothing."""
        return not self.list

    def first(self) -> _T:
        """Return the oldest item without removing it (:exc:`IndexError` if empty)."""
        return self.list[0]

    def push(self, data: _T) -> None:
        """Append *data* at the end of the queue."""
        self.list.append(data)

    def pop(self) -> tuple[bool, _T | None]:
        """Remove and return ``(True, oldest item)``, or ``(False, None)`` if empty."""
        if self.list:
            return (True, self.list.popleft())
        return (False, None)


class _IteratorProducer:
    """Adapts an iterator of bytes-like chunks to the ``more()`` protocol."""

    __slots__ = ("_it",)

    def __init__(self, it: Iterator[Any]) -> None:
        self._it = it

    def more(self) -> Any:
        # An empty chunk from an iterator is not its end: only exhaustion is.
        for chunk in self._it:
            if len(chunk):
                return chunk
        return b""

    def __repr__(self) -> str:
        return f"<producer over {self._it!r}>"


class _Close:
    """The marker ``close_when_done`` leaves in the queue."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<close when done>"


_CLOSE = _Close()


def as_producer(producer: object) -> Producer | bytes:
    """Normalize what ``push_with_producer`` accepts: a producer, or bytes to queue."""
    if isinstance(producer, (str, int)):
        raise TypeError(
            "producer must have a more() method, or be bytes-like or an iterator of bytes, "
            f"not {type(producer).__name__}"
        )
    more = getattr(producer, "more", None)
    if more is not None:
        if not callable(more):
            raise TypeError("producer.more must be callable")
        return producer  # type: ignore[return-value]
    try:
        view = memoryview(producer)  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        with view:
            return view.tobytes()
    if isinstance(producer, Iterator):
        return _IteratorProducer(producer)
    if isinstance(producer, Iterable):
        return _IteratorProducer(iter(producer))
    raise TypeError(
        "producer must have a more() method, or be bytes-like or an iterator of bytes, "
        f"not {type(producer).__name__}"
    )


# The gathered parts of a queue that never gathered: one shared empty list, so an
# idle connection holds no list of its own (it is never appended to: see gather).
_NO_PARTS: list[bytes] = []
# "No limit" while gathering: no push reaches it.
_NO_LIMIT = 1 << 62

# An empty queue holds this shared empty tuple instead of a deque of its own: an
# idle connection then costs a few bytes here, not two deques (about 1.5 KiB).
_NONE_QUEUED: Any = ()


class OutputQueue:
    """The outbound fifo: plain buffers, producers and a close marker, in order.

    ``_ready`` holds bytes already taken from the head of ``_fifo`` (buffers moved
    over, producer output pulled); ``_offset`` bytes of ``_ready[0]`` were sent.
    Producers are pulled only to fill a request, and only as much as it asks.
    Either queue is a deque while it holds something, else the shared empty tuple.

    While a :class:`~asyncframe.Handler` runs its callbacks, bytes pushed are
    *gathered* (:meth:`gather`): counted at once, and kept in a plain list that
    becomes one ready chunk when the queue is read. The gathering protocol is
    three public attributes, so that a push from a callback costs a list append
    and a count: a pusher of ``bytes`` appends to :attr:`gathered` (while it is
    not ``None``), adds the length to :attr:`ready_size`, and calls
    :meth:`overflow` if that passes :attr:`limit`.
    """

    __slots__ = (
        "_direct",
        "_fifo",
        "_fifo_bytes",
        "_offset",
        "_on_overflow",
        "_parts",
        "_peeked",
        "_ready",
        "_refused",
        "closing",
        "gathered",
        "limit",
        "ready_size",
    )

    def __init__(self) -> None:
        self._fifo: deque[bytes | Producer | _Close] = _NONE_QUEUED
        self._fifo_bytes = 0  # bytes of the plain buffers waiting in _fifo
        self._ready: deque[bytes] = _NONE_QUEUED
        #: Bytes ready to send, the gathered ones included.
        self.ready_size = 0
        self._offset = 0
        #: True once no more output is accepted: close_when_done(), or a refusal.
        self.closing = False
        # Why no more output is accepted (close(), the end of the connection), or None.
        self._refused: str | None = None
        #: While gathering, the output above which a push calls :meth:`overflow`.
        self.limit = _NO_LIMIT
        self._on_overflow: Callable[[], object] | None = None
        # Bytes pushed now go straight to _ready: nothing waits in the fifo and the
        # queue is not closing. One flag for the fast path of every push.
        self._direct = True
        #: The bytes pushed while gathering (counted in ready_size already), or None.
        #: Only while nothing waits in the fifo: what ends that moves them first and
        #: stops gathering.
        self.gathered: list[bytes] | None = None
        # The gathered bytes not joined yet: they stay here after gathering stops,
        # until the queue is read, so that a reply taken at once is never queued.
        self._parts: list[bytes] = _NO_PARTS
        # How many bytes of the last peek() are not consumed yet: consume() takes
        # at most that many (never bytes the caller has not seen).
        self._peeked = 0

    def _check_open(self, what: str) -> None:
        if self.closing:
            why = self._refused or "close_when_done()"
            raise SendAfterClose(f"{what} after {why}: the output would never be sent")

    def _append(self, chunk: bytes) -> None:
        """Queue a non-empty buffer: behind the fifo if it holds anything, else ready."""
        if self._fifo:
            self._fifo.append(chunk)
            self._fifo_bytes += len(chunk)
        else:
            self._to_ready(chunk)
            self.ready_size += len(chunk)

    def _to_ready(self, chunk: bytes) -> None:
        """Put *chunk* at the end of the ready queue (the caller counts it)."""
        if self._ready:
            self._ready.append(chunk)
        else:
            self._ready = deque((chunk,))

    def _enqueue(self, item: bytes | Producer | _Close) -> None:
        if self._fifo:
            self._fifo.append(item)
        else:
            self.stop_gathering()
            self._move_gathered()
            self._fifo = deque((item,))
            self._direct = False

    # -- gathering -------------------------------------------------------------------

    def gather(self, limit: int = 0, on_overflow: Callable[[], object] | None = None) -> None:
        """Gather the bytes pushed from now on, until :meth:`stop_gathering`.

        A push that brings :attr:`ready_size` above *limit* (0: none) calls
        :meth:`overflow`, which stops gathering and calls *on_overflow*. Called
        while gathering, it sets a new limit and callback.

        A push of bytes then costs a list append and a count; the list is joined
        into one ready chunk, in C, when the queue is read (peek, consume) or a push
        must queue otherwise. Only while pushes would go straight to the ready
        queue (no producer waits, not closing): whatever ends that moves the
        gathered bytes first and stops gathering, so no push is ever reordered,
        and the byte counts (buffered, the output limit) include them all along.
        """
        self.limit = limit or _NO_LIMIT
        self._on_overflow = on_overflow
        if self._direct and self.gathered is None:
            if self._parts is _NO_PARTS:
                self._parts = []
            self.gathered = self._parts

    @property
    def gathering(self) -> bool:
        """True between :meth:`gather` and :meth:`stop_gathering`, while pushes gather."""
        return self.gathered is not None

    def overflow(self) -> None:
        """A push passed :attr:`limit`: stop gathering, and tell whoever asked."""
        callback = self._on_overflow
        self.stop_gathering()
        if callback is not None:
            callback()

    def _move_gathered(self) -> None:
        """Move the gathered bytes into the ready queue, as one chunk (they are counted)."""
        gathered = self._parts
        if gathered:
            chunk = b"".join(gathered)  # one join in C for the many small pushes
            gathered.clear()
            if chunk:
                self._to_ready(chunk)

    def stop_gathering(self) -> None:
        """Queue later pushes one by one (the gathered bytes are joined when read)."""
        if self.gathered is not None:
            self.gathered = None
        self.limit = _NO_LIMIT
        self._on_overflow = None

    def push(self, data: object) -> None:
        """Queue *data* (bytes-like) behind what is queued; raises :exc:`SendAfterClose`
        once the queue refuses output, :exc:`TypeError` for anything not bytes-like."""
        gathered = self.gathered
        if gathered is not None and type(data) is bytes:
            gathered.append(data)
            self.ready_size += len(data)
            if self.ready_size > self.limit:
                self.overflow()
            return
        if self._direct and type(data) is bytes:
            # The common case, without the checks below.
            if data:
                if self._parts:
                    self._move_gathered()  # keep the order: this goes behind them
                self._to_ready(data)
                self.ready_size += len(data)
            return
        self._check_open("push()")
        chunk = _as_bytes(data, "data")
        if chunk:
            self._move_gathered()  # keep the order: this goes behind them
            self._append(chunk)

    def push_producer(self, producer: object) -> None:
        """Queue *producer* (an object with ``more()``, or bytes); it is pulled only as
        the output is read."""
        self._check_open("push_with_producer()")
        item = as_producer(producer)
        if isinstance(item, bytes):
            if item:
                self._enqueue(item)
                self._fifo_bytes += len(item)
        else:
            self._enqueue(item)

    def refuse_more(self, reason: str) -> None:
        """Accept no more output, because of *reason* (``"close()"``, say: it ends the
        :exc:`SendAfterClose` message); nothing is queued to mark it: it is not a
        close to wait for. :meth:`clear` keeps it."""
        self.stop_gathering()
        self.closing = True
        self._direct = False
        if self._refused is None:
            self._refused = reason

    def close_when_done(self) -> None:
        """Queue a close behind everything queued so far, and accept no more output."""
        if not self.closing:
            self.closing = True
            self._direct = False
            self._enqueue(_CLOSE)

    @property
    def wants_close(self) -> bool:
        """True once everything queued before ``close_when_done()`` was taken."""
        return self.closing and not self.ready_size and bool(self._fifo) and self._fifo[0] is _CLOSE

    def finish_close(self) -> None:
        """Take the close marker once the close it asked for has happened."""
        if self.wants_close:
            self._fifo.popleft()
            if not self._fifo:
                self._fifo = _NONE_QUEUED

    def has_output(self) -> bool:
        """True if output is ready or may come from the fifo (producers may still end empty)."""
        return bool(self.ready_size) or (bool(self._fifo) and self._fifo[0] is not _CLOSE)

    @property
    def buffered(self) -> int:
        """Bytes queued and not taken yet (producers count only for what they handed out)."""
        return self.ready_size + self._fifo_bytes

    def _fill(self, wanted: int | None) -> None:
        """Move bytes from the fifo into ``_ready`` until *wanted* are ready (None: all)."""
        fifo = self._fifo
        if not fifo:
            return
        ready = self._ready
        if ready is _NONE_QUEUED:
            self._ready = ready = deque()
        while fifo and (wanted is None or self.ready_size < wanted):
            item = fifo[0]
            if type(item) is bytes:
                fifo.popleft()
                ready.append(item)
                self.ready_size += len(item)
                self._fifo_bytes -= len(item)
            elif item is _CLOSE:
                return
            else:
                data = item.more()  # type: ignore[union-attr]
                if not data and (data is None or isinstance(data, (bytes, bytearray, memoryview))):
                    fifo.popleft()
                    continue
                try:
                    chunk = _as_bytes(data, f"the result of {item!r}.more()")
                except TypeError:
                    # Asking again would give the same kind of thing: the producer is
                    # dropped, and what was queued around it stays usable. (One whose
                    # more() raises stays queued: a retry may succeed.)
                    fifo.popleft()
                    if not fifo:
                        self._fifo = _NONE_QUEUED
                        self._direct = not self.closing
                    raise
                ready.append(chunk)
                self.ready_size += len(chunk)
        if not fifo:
            self._fifo = _NONE_QUEUED
            self._direct = not self.closing

    def peek(self, max_bytes: int | None) -> bytes:
        """Up to *max_bytes* (None: all) of the ready output, without taking it;
        producers are pulled only as far as that needs."""
        parts = self._parts
        if parts and not self._ready and (max_bytes is None or self.ready_size <= max_bytes):
            # Only gathered bytes are ready (the replies to one read, and nothing in
            # the fifo): joined once, kept as the one ready chunk for consume().
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            parts.clear()
            if data:
                self._ready = deque((data,))
            self._peeked = len(data)
            return data
        self._move_gathered()
        self._fill(max_bytes)
        ready = self._ready
        if not ready:
            self._peeked = 0
            return b""
        first = ready[0]
        off = self._offset
        n = self.ready_size if max_bytes is None else min(max_bytes, self.ready_size)
        self._peeked = n  # every way out below returns n bytes
        if len(first) - off >= n:
            if off == 0 and len(first) == n:
                return first
            return first[off : off + n]
        if off == 0 and n == self.ready_size:
            # Everything ready (the many small pushes of one read): one join, in C.
            return b"".join(ready)
        parts = [first[off:] if off else first]
        got = len(parts[0])
        for chunk in islice(ready, 1, None):
            if got + len(chunk) > n:
                parts.append(chunk[: n - got])
                break
            parts.append(chunk)
            got += len(chunk)
            if got == n:
                break
        return b"".join(parts)

    def consume(self, n: int) -> None:
        """Take *n* bytes of what :meth:`peek` returned (the part that was sent)."""
        if n > self._peeked:
            raise ValueError(
                f"consume_output(n={n}) is more than the {self._peeked} bytes the last "
                "peek_output() returned and were not consumed yet: call peek_output() "
                "first, and consume at most what it returned"
            )
        self._peeked -= n
        if self._parts:
            self._move_gathered()
        if n == self.ready_size:
            self._ready = _NONE_QUEUED
            self.ready_size = 0
            self._offset = 0
            return
        self.ready_size -= n
        ready = self._ready
        off = self._offset + n
        while ready and off >= len(ready[0]):
            off -= len(ready.popleft())
        self._offset = off
        if not ready:
            self._ready = _NONE_QUEUED

    def take(self, max_bytes: int | None) -> bytes:
        """:meth:`peek` and :meth:`consume` in one: up to *max_bytes* (None: all)."""
        parts = self._parts
        if parts and not self._ready and (max_bytes is None or self.ready_size <= max_bytes):
            # Only gathered bytes are ready (so nothing waits in the fifo either):
            # the replies to one read, taken at once, without queuing them.
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            parts.clear()
            self.ready_size = 0
            self._peeked = 0
            return data
        data = self.peek(max_bytes)
        if data:
            self.consume(len(data))
        return data

    def clear(self) -> None:
        """Drop everything queued, a pending close included; a refusal stands."""
        self._parts.clear()
        self._fifo = _NONE_QUEUED
        self._fifo_bytes = 0
        self._ready = _NONE_QUEUED
        self.ready_size = 0
        self._offset = 0
        self._peeked = 0
        # A refusal stands (the connection is over); a pending close_when_done goes.
        self.closing = self._refused is not None
        self._direct = not self.closing

    def __len__(self) -> int:
        self._move_gathered()
        return len(self._ready) + len(self._fifo)
