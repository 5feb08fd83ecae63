"""A key-value server that speaks the Redis protocol (RESP2): a store in a dict.

Run it, then use any Redis client (redis-py, ``redis-cli``, or ``nc`` with an
inline command such as ``PING``)::

    python -m examples.redis_server --adapter trio --port 6380

    # in another terminal
    python -c 'import redis; r = redis.Redis(port=6380, protocol=2)
    r.set("a", 1); print(r.get("a"))'

What it shows: a record kind. A request is an array of bulk strings,
``*<count>\r\n`` then, for each argument, ``$<length>\r\n<bytes>\r\n``; the
terminator :class:`~asyncframe.MarkedLines` frames it whole, record after record,
with no terminator switch: each line is a frame, and a ``$<length>`` line
announces an argument that comes as the next frame, any bytes, CRLF included
(the header and the CRLF after the bytes are consumed). A malformed header is
the channel's :exc:`~asyncframe.ProtocolError`, answered in ``on_protocol_error``
as Redis answers it. Pipelined requests (redis-py's ``pipeline()``) need nothing
more: the next request's bytes wait in the channel. Commands: PING, ECHO, GET, SET (with
EX/PX/NX/XX), DEL, EXISTS, INCR, INCRBY, DECR, DECRBY, MGET, MSET, KEYS (``*`` only),
DBSIZE, FLUSHDB, SELECT 0, MULTI/EXEC/DISCARD (a ``pipeline()`` is a
transaction by default), QUIT, and CLIENT/HELLO/COMMAND answered enough for a
client's handshake.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable

from asyncframe import FrameTooLong, Handler, MarkedLines, ProtocolError

#: The longest argument accepted (Redis allows 512 MB; an example needs less).
MAX_BULK = 1 << 20
#: The most arguments in one request.
MAX_ARGS = 1 << 16

Store = dict[bytes, tuple[bytes, float | None]]  # key -> (value, expiry on time.monotonic())


class ProtocolViolation(Exception):
    """The request is not RESP: answered with an error, then the connection closes."""


def bulk(value: bytes | None) -> bytes:
    """A RESP bulk string (``None``: the null bulk string)."""
    if value is None:
        return b"$-1\r\n"
    return b"$%d\r\n%s\r\n" % (len(value), value)


class RedisHandler(Handler):
    """One client connection; *store* is shared by all of them."""

    def __init__(self, store: Store) -> None:
        # max_frame_size (64 KiB by default) bounds a line; max_record_size an argument.
        super().__init__(terminator=MarkedLines(b"$"), max_record_size=MAX_BULK)
        self.store = store
        self.args: list[bytes] = []
        self.expected = 0  # arguments still to read for the current request
        # Between MULTI and EXEC: the commands to run at EXEC, else None.
        self.queued: list[tuple[Callable[..., bytes], list[bytes]]] | None = None

    # -- framing -------------------------------------------------------------------

    def on_frame(self, frame: bytes) -> None:
        try:
            self.frame(frame)
        except ProtocolViolation as exc:
            self.push(b"-ERR Protocol error: %s\r\n" % str(exc).encode())
            self.close_when_done()

    def frame(self, frame: bytes) -> None:
        if self.expected:
            # An argument: the bytes a $<length> line announced.
            self.args.append(frame)
            self.expected -= 1
            if not self.expected:
                self.execute()
        elif frame.startswith(b"*"):
            count = self.number(frame[1:], MAX_ARGS, "invalid multibulk length")
            self.args = []
            self.expected = count  # "*0" is an empty request: nothing to do
        elif frame.strip():
            # An inline command, as typed into nc or telnet: words on one line.
            self.args = frame.split()
            self.execute()

    @staticmethod
    def number(text: bytes, high: int, what: str) -> int:
        if not text.isdigit() or int(text) > high:
            raise ProtocolViolation(what)
        return int(text)

    def on_protocol_error(self, error: ProtocolError) -> None:
        # A $ header that is not a length (MarkedLines' own check): answered, and
        # the connection closes once the answer is out, as Redis does.
        self.push(b"-ERR Protocol error: invalid bulk length\r\n")

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        # A line over max_frame_size or an argument over MAX_BULK: a client this
        # far off is answered and closed, as Redis does.
        self.push(b"-ERR Protocol error: too big\r\n")
        self.close_when_done()

    # -- the commands --------------------------------------------------------------

    def execute(self) -> None:
        name, *args = self.args
        self.args = []
        lowered = name.lower()
        command = getattr(self, "cmd_" + lowered.decode("latin-1"), None)
        if command is None:
            self.push(b"-ERR unknown command '%s'\r\n" % name[:64])
            return
        try:
            inspect.signature(command).bind(*args)
        except TypeError:  # the wrong number of arguments for the command
            self.push(b"-ERR wrong number of arguments for '%s' command\r\n" % lowered)
            return
        if self.queued is not None and lowered not in (b"multi", b"exec", b"discard"):
            # Inside MULTI: run at EXEC (one client at a time runs, so it is atomic).
            self.queued.append((command, args))
            self.push(b"+QUEUED\r\n")
            return
        self.push(command(*args))
        if command == self.cmd_quit:
            self.close_when_done()  # after the reply: nothing can be pushed once closing

    def cmd_multi(self) -> bytes:
        if self.queued is not None:
            return b"-ERR MULTI calls can not be nested\r\n"
        self.queued = []
        return b"+OK\r\n"

    def cmd_exec(self) -> bytes:
        if self.queued is None:
            return b"-ERR EXEC without MULTI\r\n"
        queued, self.queued = self.queued, None
        return b"*%d\r\n" % len(queued) + b"".join(command(*args) for command, args in queued)

    def cmd_discard(self) -> bytes:
        if self.queued is None:
            return b"-ERR DISCARD without MULTI\r\n"
        self.queued = None
        return b"+OK\r\n"

    def live(self, key: bytes) -> bytes | None:
        """The value of *key*, or None if it is absent or expired."""
        item = self.store.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self.store[key]
            return None
        return value

    def cmd_ping(self, message: bytes | None = None) -> bytes:
        return b"+PONG\r\n" if message is None else bulk(message)

    def cmd_echo(self, message: bytes) -> bytes:
        return bulk(message)

    def cmd_get(self, key: bytes) -> bytes:
        return bulk(self.live(key))

    def cmd_set(self, key: bytes, value: bytes, *options: bytes) -> bytes:
        expires: float | None = None
        words = [option.upper() for option in options]
        while words:
            word = words.pop(0)
            if word in (b"EX", b"PX") and words and words[0].isdigit():
                seconds = int(words.pop(0)) / (1 if word == b"EX" else 1000)
                expires = time.monotonic() + seconds
            elif (word == b"NX" and self.live(key) is not None) or (
                word == b"XX" and self.live(key) is None
            ):
                return bulk(None)
            elif word not in (b"NX", b"XX"):
                return b"-ERR syntax error\r\n"
        self.store[key] = (value, expires)
        return b"+OK\r\n"

    def cmd_del(self, *keys: bytes) -> bytes:
        removed = sum(1 for key in keys if self.live(key) is not None and self.store.pop(key))
        return b":%d\r\n" % removed

    def cmd_exists(self, *keys: bytes) -> bytes:
        return b":%d\r\n" % sum(1 for key in keys if self.live(key) is not None)

    def cmd_incrby(self, key: bytes, amount: bytes) -> bytes:
        current = self.live(key) or b"0"
        try:
            value = int(current) + int(amount)
        except ValueError:
            return b"-ERR value is not an integer or out of range\r\n"
        self.store[key] = (b"%d" % value, self.store.get(key, (b"", None))[1])
        return b":%d\r\n" % value

    def cmd_incr(self, key: bytes) -> bytes:
        return self.cmd_incrby(key, b"1")

    def cmd_decr(self, key: bytes) -> bytes:
        return self.cmd_incrby(key, b"-1")

    def cmd_decrby(self, key: bytes, amount: bytes) -> bytes:
        return self.cmd_incrby(key, amount[1:] if amount.startswith(b"-") else b"-" + amount)

    def cmd_mget(self, *keys: bytes) -> bytes:
        return b"*%d\r\n" % len(keys) + b"".join(bulk(self.live(key)) for key in keys)

    def cmd_mset(self, *pairs: bytes) -> bytes:
        if not pairs or len(pairs) % 2:
            return b"-ERR wrong number of arguments for 'mset' command\r\n"
        for key, value in zip(pairs[::2], pairs[1::2], strict=True):
            self.store[key] = (value, None)
        return b"+OK\r\n"

    def cmd_keys(self, pattern: bytes) -> bytes:
        if pattern != b"*":
            return b"-ERR this example matches the pattern '*' only\r\n"
        keys = [key for key in list(self.store) if self.live(key) is not None]
        return b"*%d\r\n" % len(keys) + b"".join(bulk(key) for key in keys)

    def cmd_dbsize(self) -> bytes:
        return b":%d\r\n" % sum(1 for key in list(self.store) if self.live(key) is not None)

    def cmd_flushdb(self, *mode: bytes) -> bytes:
        self.store.clear()
        return b"+OK\r\n"

    cmd_flushall = cmd_flushdb

    def cmd_select(self, index: bytes) -> bytes:
        return b"+OK\r\n" if index == b"0" else b"-ERR DB index is out of range\r\n"

    def cmd_client(self, *args: bytes) -> bytes:
        # redis-py sends CLIENT SETINFO on connecting; accept any CLIENT subcommand.
        return b"+OK\r\n"

    def cmd_hello(self, *args: bytes) -> bytes:
        # RESP3 is not spoken here: a client asking for it (HELLO 3) is told so
        # and falls back, or must be made with protocol=2.
        return b"-NOPROTO this server speaks RESP2 only\r\n"

    def cmd_command(self, *args: bytes) -> bytes:
        return b"*0\r\n"  # no command table to offer

    def cmd_quit(self) -> bytes:
        return b"+OK\r\n"


def main(argv: list[str] | None = None) -> int:
    from examples._run import run_server

    store: Store = {}  # one store, shared by every connection
    return run_server(lambda: RedisHandler(store), __doc__, 6380, argv)


if __name__ == "__main__":
    sys.exit(main())
