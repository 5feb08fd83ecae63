"""The outbound half: the producer fifo, and the classic producer helpers."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
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
    becomes one ready chunk when the queue is read.
    """

    __slots__ = (
        "_closing",
        "_direct",
        "_fifo",
        "_fifo_bytes",
        "_gathered",
        "_offset",
        "_ready",
        "_ready_len",
    )

    def __init__(self) -> None:
        self._fifo: deque[bytes | Producer | _Close] = _NONE_QUEUED
        self._fifo_bytes = 0  # bytes of the plain buffers waiting in _fifo
        self._ready: deque[bytes] = _NONE_QUEUED
        self._ready_len = 0
        self._offset = 0
        self._closing = False
        # Bytes pushed now go straight to _ready: nothing waits in the fifo and the
        # queue is not closing. One flag for the fast path of every push.
        self._direct = True
        # The bytes pushed while gathering (counted in _ready_len already), or None.
        # Only while _direct: what ends _direct moves them first and stops gathering.
        self._gathered: list[bytes] | None = None

    def _check_open(self, what: str) -> None:
        if self._closing:
            raise SendAfterClose(
                f"{what} after close_when_done(): the channel is closing and would never send it"
            )

    def _append(self, chunk: bytes) -> None:
        """Queue a non-empty buffer: behind the fifo if it holds anything, else ready."""
        if self._fifo:
            self._fifo.append(chunk)
            self._fifo_bytes += len(chunk)
        else:
            self._to_ready(chunk)
            self._ready_len += len(chunk)

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
            self._fifo = deque((item,))
            self._direct = False

    # -- gathering -------------------------------------------------------------------

    def gather(self) -> None:
        """Gather the bytes pushed from now on, until :meth:`stop_gathering`.

        A push of bytes then costs a list append and a count; the list is joined
        into one ready chunk, in C, when the queue is read (peek, consume) or a push
        must queue otherwise. Only while pushes would go straight to the ready
        queue (no producer waits, not closing): whatever ends that moves the
        gathered bytes first and stops gathering, so no push is ever reordered,
        and the byte counts (buffered, the output limit) include them all along.
        """
        if self._direct and self._gathered is None:
            self._gathered = []

    def _move_gathered(self) -> None:
        """Move the gathered bytes into the ready queue, as one chunk (they are counted)."""
        gathered = self._gathered
        if gathered:
            chunk = b"".join(gathered)  # one join in C for the many small pushes
            gathered.clear()
            if chunk:
                self._to_ready(chunk)

    def stop_gathering(self) -> None:
        """Move the gathered bytes into the ready queue; queue later pushes one by one."""
        if self._gathered is not None:
            self._move_gathered()
            self._gathered = None

    def push(self, data: object) -> None:
        gathered = self._gathered
        if gathered is not None and type(data) is bytes:
            gathered.append(data)
            self._ready_len += len(data)
            return
        if self._direct and type(data) is bytes:
            # The common case, without the checks below.
            if data:
                self._to_ready(data)
                self._ready_len += len(data)
            return
        self._check_open("push()")
        chunk = _as_bytes(data, "data")
        if chunk:
            self._move_gathered()  # keep the order: this goes behind them
            self._append(chunk)

    def push_producer(self, producer: object) -> None:
        self._check_open("push_with_producer()")
        item = as_producer(producer)
        if isinstance(item, bytes):
            if item:
                self._enqueue(item)
                self._fifo_bytes += len(item)
        else:
            self._enqueue(item)

    def refuse_more(self) -> None:
        """Accept no more output (the connection is closing or gone); nothing is queued
        to mark it: it is not a close to wait for."""
        self.stop_gathering()
        self._closing = True
        self._direct = False

    def close_when_done(self) -> None:
        if not self._closing:
            self._closing = True
            self._direct = False
            self._enqueue(_CLOSE)

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def wants_close(self) -> bool:
        """True once everything queued before ``close_when_done()`` was taken."""
        return (
            self._closing and not self._ready_len and bool(self._fifo) and self._fifo[0] is _CLOSE
        )

    def finish_close(self) -> None:
        """Take the close marker once the close it asked for has happened."""
        if self.wants_close:
            self._fifo.popleft()
            if not self._fifo:
                self._fifo = _NONE_QUEUED

    def has_output(self) -> bool:
        """True if output is ready or may come from the fifo (producers may still end empty)."""
        return bool(self._ready_len) or (bool(self._fifo) and self._fifo[0] is not _CLOSE)

    @property
    def buffered(self) -> int:
        """Bytes queued and not taken yet (producers count only for what they handed out)."""
        return self._ready_len + self._fifo_bytes

    def _fill(self, wanted: int | None) -> None:
        """Move bytes from the fifo into ``_ready`` until *wanted* are ready (None: all)."""
        fifo = self._fifo
        if not fifo:
            return
        ready = self._ready
        if ready is _NONE_QUEUED:
            self._ready = ready = deque()
        while fifo and (wanted is None or self._ready_len < wanted):
            item = fifo[0]
            if type(item) is bytes:
                fifo.popleft()
                ready.append(item)
                self._ready_len += len(item)
                self._fifo_bytes -= len(item)
            elif item is _CLOSE:
                return
            else:
                data = item.more()  # type: ignore[union-attr]
                if not data and (data is None or isinstance(data, (bytes, bytearray, memoryview))):
                    fifo.popleft()
                    continue
                chunk = _as_bytes(data, f"the result of {item!r}.more()")
                ready.append(chunk)
                self._ready_len += len(chunk)
        if not fifo:
            self._fifo = _NONE_QUEUED
            self._direct = not self._closing

    def peek(self, max_bytes: int | None) -> bytes:
        self._move_gathered()
        self._fill(max_bytes)
        ready = self._ready
        if not ready:
            return b""
        first = ready[0]
        off = self._offset
        n = self._ready_len if max_bytes is None else min(max_bytes, self._ready_len)
        if len(first) - off >= n:
            if off == 0 and len(first) == n:
                return first
            return first[off : off + n]
        if off == 0 and n == self._ready_len:
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
        self._move_gathered()
        if n > self._ready_len:
            raise ValueError(
                f"consume_output(n={n}) is more than the {self._ready_len} bytes "
                "peek_output() made ready"
            )
        if n == self._ready_len:
            self._ready = _NONE_QUEUED
            self._ready_len = 0
            self._offset = 0
            return
        self._ready_len -= n
        ready = self._ready
        off = self._offset + n
        while ready and off >= len(ready[0]):
            off -= len(ready.popleft())
        self._offset = off
        if not ready:
            self._ready = _NONE_QUEUED

    def take(self, max_bytes: int | None) -> bytes:
        data = self.peek(max_bytes)
        if data:
            self.consume(len(data))
        return data

    def clear(self) -> None:
        if self._gathered:
            self._gathered.clear()
        self._fifo = _NONE_QUEUED
        self._fifo_bytes = 0
        self._ready = _NONE_QUEUED
        self._ready_len = 0
        self._offset = 0
        self._closing = False
        self._direct = True

    def __len__(self) -> int:
        self._move_gathered()
        return len(self._ready) + len(self._fifo)
