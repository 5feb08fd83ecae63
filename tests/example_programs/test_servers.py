"""The example servers, each on every adapter, against clients written elsewhere:
the standard library's smtplib, redis-py and pymemcache."""

from __future__ import annotations

import smtplib
import socket

import pytest
import redis
from pymemcache.client.base import Client as MemcacheClient
from pymemcache.exceptions import MemcacheServerError

from examples import memcached_server, record_echo, redis_server, smtp_receiver

from .conftest import Serve

TIMEOUT = 20.0

# -- SMTP ----------------------------------------------------------------------------


def test_smtp_delivers_with_dot_stuffing_undone(serve: Serve) -> None:
    inbox: list[smtp_receiver.Message] = []
    port = serve(lambda: smtp_receiver.SMTPReceiver(inbox.append))
    body = "Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nlast line\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as smtp:
        assert smtp.ehlo()[0] == 250
        assert smtp.has_extn("size")
        assert not smtp.has_extn("starttls")  # not offered yet
        assert (
            smtp.sendmail("alice@example.org", ["bob@example.org", "eve@example.org"], body) == {}
        )
        assert smtp.noop()[0] == 250
    # smtplib doubled each leading dot; the receiver undid it: the message as given.
    assert inbox == [
        ("alice@example.org", ["bob@example.org", "eve@example.org"], body.encode("ascii"))
    ]


def test_smtp_an_empty_message_then_quit(serve: Serve) -> None:
    inbox: list[smtp_receiver.Message] = []
    port = serve(lambda: smtp_receiver.SMTPReceiver(inbox.append))
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT)
    smtp.ehlo()
    assert smtp.mail("a@example.org")[0] == 250
    assert smtp.rcpt("b@example.org")[0] == 250
    # DATA, then at once the line of one dot: smtplib.data() would add a blank line.
    smtp.putcmd("DATA")
    assert smtp.getreply()[0] == 354
    smtp.send(b".\r\n")
    assert smtp.getreply()[0] == 250
    assert smtp.quit()[0] == 221  # answered: the QUIT was read as a command
    assert inbox == [("a@example.org", ["b@example.org"], b"")]


def test_smtp_refuses_an_oversized_message_and_goes_on(serve: Serve) -> None:
    inbox: list[smtp_receiver.Message] = []
    port = serve(lambda: smtp_receiver.SMTPReceiver(inbox.append))
    big = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * (smtp_receiver.MAX_MESSAGE // 1000 + 1)
    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as smtp:
        # smtplib declares the size (MAIL FROM:<...> SIZE=n): refused at once.
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("a@example.org", ["b@example.org"], big)
        assert refused.value.smtp_code == 552
        # Undeclared, it is refused at the end, after being read and not kept.
        smtp.rset()
        assert smtp.mail("a@example.org")[0] == 250
        assert smtp.rcpt("b@example.org")[0] == 250
        assert smtp.data(big)[0] == 552
        assert smtp.sendmail("a@example.org", ["b@example.org"], "small\r\n") == {}
    assert inbox == [("a@example.org", ["b@example.org"], b"small\r\n")]


# -- Redis ---------------------------------------------------------------------------


def redis_client(port: int) -> redis.Redis:
    # protocol=2: the example speaks RESP2 (redis-py would otherwise try HELLO 3 on
    # the versions that default to RESP3).
    return redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=TIMEOUT)


def test_redis_commands(serve: Serve) -> None:
    store: redis_server.Store = {}
    port = serve(lambda: redis_server.RedisHandler(store))
    r = redis_client(port)
    try:
        assert r.ping() is True
        assert r.set("greeting", "hello") is True
        assert r.get("greeting") == b"hello"
        assert r.get("missing") is None
        binary = bytes(range(256)) + b"\r\n*1\r\n$3\r\n"  # framing bytes inside a value
        assert r.set(b"bin\r\nkey", binary) is True
        assert r.get(b"bin\r\nkey") == binary
        assert r.incr("counter") == 1
        assert r.incrby("counter", 41) == 42
        assert r.decr("counter") == 41
        assert r.mset({"a": "1", "b": "2"}) is True
        assert r.mget("a", "b", "nope") == [b"1", b"2", None]
        assert r.exists("a", "b", "nope") == 2
        assert r.set("a", "x", nx=True) is None
        assert r.set("nope", "x", xx=True) is None
        assert r.delete("a", "nope") == 1
        assert sorted(r.keys("*")) == [b"b", b"bin\r\nkey", b"counter", b"greeting"]
        assert r.dbsize() == 4
        large = b"v" * 200_000
        assert r.set("large", large) is True
        assert r.get("large") == large
        with pytest.raises(redis.ResponseError, match="unknown command"):
            r.execute_command("NOSUCH")
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            r.execute_command("GET")
        assert r.flushdb() is True
        assert r.dbsize() == 0
    finally:
        r.close()


@pytest.mark.parametrize("transaction", [True, False], ids=["multi-exec", "plain"])
def test_redis_pipeline(serve: Serve, transaction: bool) -> None:
    store: redis_server.Store = {}
    port = serve(lambda: redis_server.RedisHandler(store))
    r = redis_client(port)
    try:
        pipe = r.pipeline(transaction=transaction)
        for i in range(2000):  # written in one go before any reply is read
            pipe.set(f"key{i}", f"value{i}" * 10)
            pipe.get(f"key{i}")
        replies = pipe.execute()
        assert replies[0::2] == [True] * 2000
        assert replies[1::2] == [f"value{i}".encode() * 10 for i in range(2000)]
    finally:
        r.close()


def test_redis_inline_commands_and_a_protocol_error(serve: Serve) -> None:
    port = serve(lambda: redis_server.RedisHandler({}))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"PING\r\nSET k v\r\nGET k\r\n")
        assert read_exactly(sock, len(b"+PONG\r\n+OK\r\n$1\r\nv\r\n")) == (
            b"+PONG\r\n+OK\r\n$1\r\nv\r\n"
        )
        sock.sendall(b"*1\r\n$x\r\n")
        assert read_to_end(sock) == b"-ERR Protocol error: invalid bulk length\r\n"


# -- memcached ------------------------------------------------------------------------


def test_memcached_commands(serve: Serve) -> None:
    cache = memcached_server.Cache()
    port = serve(lambda: memcached_server.MemcachedHandler(cache))
    # default_noreply=False: every storage command waits for its answer.
    client = MemcacheClient(("127.0.0.1", port), timeout=TIMEOUT, default_noreply=False)
    try:
        assert client.set("a", b"1") is True
        assert client.get("a") == b"1"
        assert client.get("missing") is None
        binary = b"line\r\nEND\r\nVALUE x 0 1\r\n" + bytes(range(256))
        assert client.set("bin", binary, expire=3600) is True
        assert client.get("bin") == binary
        assert client.get_many(["a", "bin", "missing"]) == {"a": b"1", "bin": binary}
        assert client.add("a", b"2") is False
        assert client.add("b", b"2") is True
        assert client.replace("missing", b"x") is False
        assert client.append("a", b"0") is True
        assert client.prepend("a", b"9") is True
        assert client.get("a") == b"910"
        assert client.incr("a", 5) == 915
        assert client.decr("a", 1000) == 0
        value, cas = client.gets("b")
        assert value == b"2"
        assert client.cas("b", b"3", cas) is True
        assert client.cas("b", b"4", cas) is False  # changed since
        assert client.get("b") == b"3"
        assert client.touch("b", 100) is True
        assert client.delete("b") is True
        assert client.delete("b") is False
        assert client.version().startswith(b"1.6")
        with pytest.raises(MemcacheServerError, match="too large"):
            client.set("huge", b"x" * (memcached_server.MAX_ITEM + 1))
        assert client.get("a") == b"0"  # the refused block was skipped, not read as commands
        assert client.flush_all() is True
        assert client.get("a") is None
    finally:
        client.close()


def test_memcached_noreply(serve: Serve) -> None:
    cache = memcached_server.Cache()
    port = serve(lambda: memcached_server.MemcachedHandler(cache))
    client = MemcacheClient(("127.0.0.1", port), timeout=TIMEOUT)  # noreply by default
    try:
        for i in range(500):
            client.set(f"k{i}", b"%d" % i)
        client.set("huge", b"x" * (memcached_server.MAX_ITEM + 1))  # refused silently
        assert client.get_many([f"k{i}" for i in range(500)]) == {
            f"k{i}": b"%d" % i for i in range(500)
        }
    finally:
        client.close()


# -- helpers ---------------------------------------------------------------------------


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("size", [0, 1, 100, 100_000])
def test_redis_values_of_every_size_with_crlf_inside(serve: Serve, size: int) -> None:
    port = serve(lambda: redis_server.RedisHandler({}))
    r = redis_client(port)
    try:
        value = (b"a\r\n$3\r\n" * (size // 8 + 1))[:size]  # framing bytes all through
        assert r.set(b"k", value) is True
        assert r.get(b"k") == value
    finally:
        r.close()


# -- binary records --------------------------------------------------------------------


def test_record_echo_answers_records_however_they_are_cut(serve: Serve) -> None:
    port = serve(record_echo.RecordEcho)
    payloads = [b"", b"x", b"\r\n" * 50, bytes(range(256)) * 400]
    stream = b"".join(record_echo.record(p) for p in payloads)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        for i in range(0, len(stream), 7001):  # records cut across sends
            sock.sendall(stream[i : i + 7001])
        assert read_exactly(sock, len(stream)) == stream


def test_record_echo_refuses_a_record_over_its_limit(serve: Serve) -> None:
    port = serve(record_echo.RecordEcho)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(
            record_echo.record(b"ok") + record_echo.HEADER.pack(record_echo.MAX_RECORD + 1)
        )
        # The record before is answered; the oversize header closes the connection
        # before any of its bytes are sent.
        assert read_to_end(sock) == record_echo.record(b"ok")
