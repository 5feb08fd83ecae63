"""The standard library's STARTTLS clients (smtplib, poplib, imaplib, ftplib) and
swaks against the example servers of ``examples/tls_servers.py``, on every adapter,
over loopback with trustme certificates."""

from __future__ import annotations

import contextlib
import ftplib
import imaplib
import poplib
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from functools import partial

import pytest

from asyncframe.testing import (
    AdapterUnderTest,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    TwistedAdapter,
)
from asyncframe.testing._adapters import serving
from examples.tls_servers import Mailbox, factory

from .conftest import TIMEOUT, uvloop_adapter

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "asyncio-uvloop": uvloop_adapter,
    "trio": TrioAdapter,
    "anyio-asyncio": partial(AnyioAdapter, "asyncio"),
    "anyio-trio": partial(AnyioAdapter, "trio"),
    "twisted": TwistedAdapter,
}

BODY = "A payload only TLS may carry.\r\n.a line that starts with a dot\r\n"


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> AdapterUnderTest:
    return ADAPTERS[request.param]()


@contextlib.contextmanager
def running(
    adapter: AdapterUnderTest, protocol: str, tls: Contexts, mailbox: Mailbox
) -> Iterator[int]:
    with serving(adapter, factory(protocol, tls[0], mailbox)) as (_, port):
        yield port


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


def a_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "ada@example.com"
    message["To"] = "bob@example.com"
    message["Subject"] = "over TLS"
    message.set_content(BODY)
    return message


def test_smtplib_starttls(adapter: AdapterUnderTest, tls: Contexts, mailbox: Mailbox) -> None:
    with (
        running(adapter, "smtp", tls, mailbox) as port,
        smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client,
    ):
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=tls[1])
        assert code == 220
        assert isinstance(client.sock, ssl.SSLSocket)
        client.ehlo()
        assert not client.has_extn("starttls")  # offered in clear text only
        assert client.send_message(a_message()) == {}
    assert mailbox.over_tls == [True]
    # The payload, read back over TLS (POP3 with STLS) from what the server took.
    with running(adapter, "pop3", tls, mailbox) as port:
        reader = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            reader.stls(context=tls[1])
            reader.user("bob")
            reader.pass_("secret")
            _, lines, _ = reader.retr(1)
        finally:
            reader.quit()
    assert b".a line that starts with a dot" in lines
    assert b"A payload only TLS may carry." in lines


def test_poplib_stls(adapter: AdapterUnderTest, tls: Contexts, mailbox: Mailbox) -> None:
    raw = a_message().as_bytes().replace(b"\n", b"\r\n")
    mailbox.messages.append(raw)
    with running(adapter, "pop3", tls, mailbox) as port:
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            assert "STLS" in client.capa()
            client.stls(context=tls[1])
            assert isinstance(client.sock, ssl.SSLSocket)
            client.user("ada")
            client.pass_("secret")
            _, lines, _ = client.retr(1)
        finally:
            client.quit()
    assert b"\r\n".join(lines) + b"\r\n" == raw


def test_imaplib_starttls(adapter: AdapterUnderTest, tls: Contexts, mailbox: Mailbox) -> None:
    raw = a_message().as_bytes().replace(b"\n", b"\r\n")
    mailbox.messages.append(raw)
    with running(adapter, "imap", tls, mailbox) as port:
        client = imaplib.IMAP4("127.0.0.1", port, timeout=TIMEOUT)
        try:
            assert "STARTTLS" in client.capabilities
            status, _ = client.starttls(ssl_context=tls[1])
            assert status == "OK"
            assert isinstance(client.sock, ssl.SSLSocket)
            assert "STARTTLS" not in client.capabilities
            client.login("ada", "secret")
            status, count = client.select("INBOX")
            assert (status, count) == ("OK", [b"1"])
            status, data = client.fetch("1", "(RFC822)")
            assert status == "OK"
        finally:
            client.logout()
    first = data[0]
    assert isinstance(first, tuple)
    assert first[1] == raw


def test_ftplib_auth_tls(adapter: AdapterUnderTest, tls: Contexts, mailbox: Mailbox) -> None:
    with running(adapter, "ftp", tls, mailbox) as port:
        client = ftplib.FTP_TLS(context=tls[1], timeout=TIMEOUT)
        try:
            client.connect("127.0.0.1", port)
            assert client.auth().startswith("234")
            assert isinstance(client.sock, ssl.SSLSocket)
            assert client.login("ada", "secret").startswith("230")
            assert client.pwd() == "/"
            assert client.sendcmd("SYST") == "215 UNIX Type: L8"
        finally:
            client.quit()


def test_injection_after_starttls_is_not_processed(
    adapter: AdapterUnderTest, tls: Contexts, mailbox: Mailbox
) -> None:
    """The STARTTLS command injection against the SMTP example: ``MAIL FROM`` sent in
    the same segment as ``STARTTLS`` is never answered, nor queued for after TLS."""
    import socket

    with (
        running(adapter, "smtp", tls, mailbox) as port,
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock,
    ):
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        sock.sendall(b"EHLO x\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n")
        try:
            rest = reader.read()
        except ConnectionResetError:
            rest = b""
        finally:
            reader.close()
        # Closed at once (the "220" dropped with it): no "250" for the MAIL FROM.
        assert rest == b""
    assert mailbox.messages == []


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_tls(adapter: AdapterUnderTest, tls: Contexts, mailbox: Mailbox) -> None:
    with running(adapter, "smtp", tls, mailbox) as port:
        done = subprocess.run(
            [
                *("swaks", "--server", f"127.0.0.1:{port}", "--tls"),
                *("--to", "bob@example.com", "--from", "ada@example.com"),
                *("--body", "a payload over TLS"),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert mailbox.over_tls == [True]
    assert b"a payload over TLS" in mailbox.messages[0]
