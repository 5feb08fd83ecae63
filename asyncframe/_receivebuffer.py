"""The receive buffer: the bytes received and not reported yet.

Operations the inbound half needs:

- append a chunk the transport read;
- find the next terminator (one bytes string, or the earliest of several), or learn
  that the buffer ends with what may be the start of one;
- take the next N bytes, or the bytes up to a position.

Goal: the total work is O(bytes received), whatever the chunking, the number of
frames and the length of the terminator. How each operation keeps to it:

- **Storage**: one ``bytearray`` (:attr:`ReceiveBuffer.data`) and a read offset
  (:attr:`ReceiveBuffer.start`). Taking bytes only moves ``start``; nothing after
  it is copied, so reading many short frames out of one large read costs the
  frames' bytes, not the buffer's tail per frame (the classic ``asynchat``
  ``buffer = buffer[n:]`` is quadratic there).
- **Compaction**: consumed bytes are dropped from the front in :meth:`append`, and
  only once they are at least as many as the live bytes after them. Dropping them
  copies the live bytes at most once, and that copy is paid for by the consumed
  bytes it drops, each of which is dropped once: compaction costs at most one copy
  of each byte received, and the buffer never holds more than twice its live bytes
  plus the last chunk.
- **Searching**: the terminator readers (``_readers``) keep a *search offset* per
  terminator string: no match starts before it, and the bytes from it to the end of
  the buffer are exactly a proper prefix of the terminator (the bytes *held back*,
  at most ``len(terminator) - 1`` of them). A new search starts at that offset. When
  the new bytes are at least as many as the held-back ones, one ``find`` covers both
  (its cost is at most twice the new bytes); otherwise the new bytes run through a
  Knuth-Morris-Pratt automaton whose state is the held-back length (amortised O(1)
  per byte). So no byte is searched more than a constant number of times, even for
  a 128 KiB terminator fed one byte at a time, and the held-back bytes never exceed
  ``len(longest terminator) - 1``. Compaction shifts the offsets (:meth:`rebase`
  on the readers), it never invalidates them.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """The received bytes, with the offset of the first one not reported yet."""

    __slots__ = ("data", "start")

    def __init__(self, data: bytearray) -> None:
        #: Every byte kept: consumed ones before :attr:`start`, unread ones after it.
        self.data = data
        #: The offset of the first unread byte in :attr:`data`.
        self.start = 0

    def __len__(self) -> int:
        """The number of unread bytes."""
        return len(self.data) - self.start

    def append(self, chunk: bytes | bytearray | memoryview) -> int:
        """Add *chunk* at the end; return how far the offsets moved (bytes dropped).

        Consumed bytes are dropped first if they are at least as many as the unread
        ones (see the module comment for why that keeps the cost linear).
        """
        data = self.data
        start = self.start
        if start and 2 * start >= len(data):
            del data[:start]
            self.start = 0
        else:
            start = 0
        data += chunk
        return start

    def take(self, stop: int) -> bytes:
        """Return the unread bytes before offset *stop* and consume them."""
        start = self.start
        self.start = stop
        return bytes(self.data[start:stop])

    def unread(self) -> bytes:
        """Return a copy of the unread bytes, consuming nothing."""
        return bytes(self.data[self.start :])

    def clear(self) -> None:
        """Drop every byte, consumed or not."""
        del self.data[:]
        self.start = 0
