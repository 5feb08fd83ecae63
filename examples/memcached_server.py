"""A cache that speaks memcached's text protocol: a store in a dict.

Run it, then use any memcached client (pymemcache, or ``nc`` / ``telnet``:
``set a 0 0 5``, then ``hello``, then ``get a``)::

    python -m examples.memcached_server --adapter selectors --port 11311

    # in another terminal
    python -c 'from pymemcache.client.base import Client
    c = Client(("127.0.0.1", 11311)); c.set("a", "1"); print(c.get("a"))'

What it shows: a command line that announces a data block of a given size
(``set <key> <flags> <exptime> <bytes>``): the handler reads the line with the
terminator ``b"\\r\\n"``, then the block with a byte count (``set_terminator(bytes
+ 2)``: the data and its CRLF), then goes back to lines. Commands: set, add,
replace, append, prepend, cas, get, gets, delete, incr, decr, touch, flush_all,
version, quit, each with ``noreply`` where memcached takes it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from asyncframe import FrameTooLong, Handler

#: The largest item accepted (memcached's default item size limit).
MAX_ITEM = 1 << 20
#: The longest key (memcached's limit).
MAX_KEY = 250
#: An exptime above this many seconds is a Unix time, not a delay (memcached's rule).
RELATIVE_LIMIT = 60 * 60 * 24 * 30

STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


@dataclass
class Item:
    flags: int
    value: bytes
    cas: int
    expires: float | None  # on time.time(); None: never


class Cache:
    """The items and the next cas unique, shared by every connection."""

    def __init__(self) -> None:
        self.items: dict[bytes, Item] = {}
        self.next_cas = 1

    def get(self, key: bytes) -> Item | None:
        item = self.items.get(key)
        if item is not None and item.expires is not None and item.expires <= time.time():
            del self.items[key]
            return None
        return item

    def put(self, key: bytes, flags: int, value: bytes, expires: float | None) -> None:
        self.items[key] = Item(flags, value, self.next_cas, expires)
        self.next_cas += 1


def expiry(exptime: int) -> float | None:
    """memcached's exptime: 0 never, up to 30 days a delay, above that a Unix time;
    negative: already expired."""
    if exptime == 0:
        return None
    if exptime < 0:
        return 0.0
    return exptime if exptime > RELATIVE_LIMIT else time.time() + exptime


class MemcachedHandler(Handler):
    """One client connection; *cache* is shared by all of them."""

    def __init__(self, cache: Cache) -> None:
        # max_frame_size bounds a command line and a data block (plus its CRLF).
        super().__init__(terminator=b"\r\n", max_frame_size=MAX_ITEM + 2)
        self.cache = cache
        # The storage command whose data block is the next frame, or None.
        self.pending: tuple[bytes, list[bytes]] | None = None
        self.skipping = 0  # bytes of a refused block still to skip

    def skip(self, left: int) -> None:
        """Skip the next *left* bytes, at most MAX_ITEM of them per frame (so that
        memory stays bounded), then read command lines again."""
        self.skipping = left
        self.set_terminator(min(left, MAX_ITEM) if left else b"\r\n")

    def on_frame(self, frame: bytes) -> None:
        if self.skipping:
            self.skip(self.skipping - len(frame))
            return
        if self.pending is not None:
            self.data_block(frame)
            return
        words = frame.split()
        if not words:
            self.push(b"ERROR\r\n")
            return
        name, args = words[0].lower(), words[1:]
        if any(len(key) > MAX_KEY for key in args[:1]):
            self.push(b"CLIENT_ERROR key too long\r\n")
        elif name in STORAGE:
            self.storage_line(name, args)
        elif name in (b"get", b"gets"):
            self.retrieve(args, with_cas=name == b"gets")
        else:
            command = getattr(self, "cmd_" + name.decode("latin-1"), None)
            if command is None:
                self.push(b"ERROR\r\n")
            else:
                command(args)

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        # A command line longer than any block: dropped, and skipped to its end.
        self.push(b"CLIENT_ERROR line too long\r\n")

    def reply(self, noreply: bool, text: bytes) -> None:
        if not noreply:
            self.push(text)

    # -- storage: a line, then a data block --------------------------------------------

    def storage_line(self, name: bytes, args: list[bytes]) -> None:
        wanted = 5 if name == b"cas" else 4  # key flags exptime bytes [cas] [noreply]
        if len(args) not in (wanted, wanted + 1) or not all(
            arg.lstrip(b"-").isdigit() for arg in args[1:wanted]
        ):
            self.push(b"CLIENT_ERROR bad command line format\r\n")
            return
        size = int(args[3])
        if size < 0:
            self.push(b"CLIENT_ERROR bad data chunk\r\n")
            return
        if size > MAX_ITEM:
            # Refused, and its block (still on its way) skipped, as memcached does.
            self.reply(args[-1] == b"noreply", b"SERVER_ERROR object too large for cache\r\n")
            self.skip(size + 2)
            return
        self.pending = (name, args)
        # The next size + 2 bytes are the block and its CRLF, whatever they hold.
        self.set_terminator(size + 2)

    def data_block(self, frame: bytes) -> None:
        assert self.pending is not None
        name, args = self.pending
        self.pending = None
        self.set_terminator(b"\r\n")  # back to command lines
        noreply = args[-1] == b"noreply"
        if not frame.endswith(b"\r\n"):
            self.reply(noreply, b"CLIENT_ERROR bad data chunk\r\n")
            return
        value = frame[:-2]
        key, flags, expires = args[0], int(args[1]), expiry(int(args[2]))
        item = self.cache.get(key)
        if name == b"cas":
            if item is None:
                self.reply(noreply, b"NOT_FOUND\r\n")
                return
            if item.cas != int(args[4]):
                self.reply(noreply, b"EXISTS\r\n")
                return
        elif (name == b"add" and item is not None) or (
            name in (b"replace", b"append", b"prepend") and item is None
        ):
            self.reply(noreply, b"NOT_STORED\r\n")
            return
        if item is not None and name == b"append":
            flags, value, expires = item.flags, item.value + value, item.expires
        elif item is not None and name == b"prepend":
            flags, value, expires = item.flags, value + item.value, item.expires
        self.cache.put(key, flags, value, expires)
        self.reply(noreply, b"STORED\r\n")

    # -- the other commands ----------------------------------------------------------

    def retrieve(self, keys: list[bytes], *, with_cas: bool) -> None:
        parts = []
        for key in keys:
            item = self.cache.get(key)
            if item is not None:
                cas = b" %d" % item.cas if with_cas else b""
                parts.append(b"VALUE %s %d %d%s\r\n" % (key, item.flags, len(item.value), cas))
                parts.append(item.value + b"\r\n")
        parts.append(b"END\r\n")
        self.push(b"".join(parts))

    def cmd_delete(self, args: list[bytes]) -> None:
        if not args:
            self.push(b"ERROR\r\n")
            return
        found = self.cache.get(args[0]) is not None
        self.cache.items.pop(args[0], None)
        self.reply(args[-1] == b"noreply", b"DELETED\r\n" if found else b"NOT_FOUND\r\n")

    def cmd_incr(self, args: list[bytes], sign: int = 1) -> None:
        if len(args) < 2 or not args[1].isdigit():
            self.push(b"CLIENT_ERROR invalid numeric delta argument\r\n")
            return
        noreply = args[-1] == b"noreply"
        item = self.cache.get(args[0])
        if item is None:
            self.reply(noreply, b"NOT_FOUND\r\n")
            return
        if not item.value.isdigit():
            self.push(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
            return
        # incr wraps at 64 bits; decr stops at 0 (memcached's rules).
        value = max(0, int(item.value) + sign * int(args[1])) % (1 << 64)
        self.cache.put(args[0], item.flags, b"%d" % value, item.expires)
        self.reply(noreply, b"%d\r\n" % value)

    def cmd_decr(self, args: list[bytes]) -> None:
        self.cmd_incr(args, sign=-1)

    def cmd_touch(self, args: list[bytes]) -> None:
        if len(args) < 2 or not args[1].lstrip(b"-").isdigit():
            self.push(b"ERROR\r\n")
            return
        item = self.cache.get(args[0])
        if item is not None:
            item.expires = expiry(int(args[1]))
        self.reply(args[-1] == b"noreply", b"TOUCHED\r\n" if item else b"NOT_FOUND\r\n")

    def cmd_flush_all(self, args: list[bytes]) -> None:
        self.cache.items.clear()
        self.reply(bool(args) and args[-1] == b"noreply", b"OK\r\n")

    def cmd_version(self, args: list[bytes]) -> None:
        self.push(b"VERSION 1.6.0-asyncframe-example\r\n")

    def cmd_quit(self, args: list[bytes]) -> None:
        self.close_when_done()  # memcached answers nothing and closes


def main(argv: list[str] | None = None) -> int:
    from examples._run import run_server

    cache = Cache()  # one cache, shared by every connection
    return run_server(lambda: MemcachedHandler(cache), __doc__, 11311, argv)


if __name__ == "__main__":
    sys.exit(main())
