"""Four small servers that upgrade to TLS mid-connection with ``Handler.start_tls()``.

Each speaks only the commands its standard client needs, and runs unchanged on the
selectors, asyncio and trio adapters:

- :class:`SMTPReceiver`: ``EHLO``/``HELO``, ``STARTTLS``, ``MAIL``, ``RCPT``,
  ``DATA``, ``RSET``, ``NOOP``, ``QUIT`` (``smtplib.SMTP.starttls()``, ``swaks --tls``);
  the messages go to a :class:`Mailbox`;
- :class:`POP3Server`: ``CAPA``, ``STLS``, ``USER``, ``PASS``, ``STAT``, ``RETR``,
  ``QUIT`` (``poplib.POP3.stls()``), serving the :class:`Mailbox`;
- :class:`IMAPServer`: ``CAPABILITY``, ``STARTTLS``, ``LOGIN``, ``SELECT``,
  ``FETCH n (RFC822)``, ``LOGOUT`` (``imaplib.IMAP4.starttls()``);
- :class:`FTPServer`: ``AUTH TLS``, ``USER``, ``PASS``, ``PWD``, ``SYST``, ``QUIT`` on
  the control connection only, no data connections (``ftplib.FTP_TLS.auth()``).

The pattern is the same in all four: answer the upgrade command, call
``self.start_tls(context)``, and forget what the clear-text session said (the
protocols require it). A command sent in the same segment as the upgrade command
never reaches the handler: the connection is closed instead.

Run one on the selectors loop with a certificate and key, from the root of a
checkout::

    python -m examples.tls_servers smtp --cert cert.pem --key key.pem --port 8025
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
from collections.abc import Callable

from asyncframe import Handler


class Mailbox:
    """The messages an :class:`SMTPReceiver` took, and how each arrived."""

    def __init__(self) -> None:
        #: The messages, as bytes with ``\\r\\n`` line ends and dots un-stuffed.
        self.messages: list[bytes] = []
        #: For each message: whether it came over TLS.
        self.over_tls: list[bool] = []


class SMTPReceiver(Handler):
    """A receiving SMTP server that offers STARTTLS (RFC 3207) until TLS is up."""

    def __init__(self, context: ssl.SSLContext, mailbox: Mailbox, name: str = "localhost"):
        super().__init__()
        self.context = context
        self.mailbox = mailbox
        self.name = name.encode()
        self.data: list[bytes] | None = None  # the DATA lines, while in DATA

    def on_connect(self) -> None:
        self.push(b"220 " + self.name + b" ESMTP asyncframe\r\n")

    def on_frame(self, frame: bytes) -> None:
        if self.data is not None:
            self.data_line(frame)
            return
        verb = frame[:4].upper()
        if verb == b"EHLO":
            lines = [self.name, b"SIZE 10485760", b"8BITMIME"]
            if self.ssl_object is None:
                lines.append(b"STARTTLS")
            self.push(b"".join(b"250-" + line + b"\r\n" for line in lines[:-1]))
            self.push(b"250 " + lines[-1] + b"\r\n")
        elif verb == b"HELO":
            self.push(b"250 " + self.name + b"\r\n")
        elif frame.upper() == b"STARTTLS":
            if self.ssl_object is not None:
                self.push(b"503 5.5.1 TLS already active\r\n")
                return
            self.push(b"220 2.0.0 Ready to start TLS\r\n")
            self.start_tls(self.context)
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self.push(b"250 2.0.0 OK\r\n")
        elif verb == b"DATA":
            self.data = []
            self.push(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self.push(b"221 2.0.0 Bye\r\n")
            self.close_when_done()
        else:
            self.push(b"500 5.5.2 Command not recognized\r\n")

    def data_line(self, line: bytes) -> None:
        assert self.data is not None
        if line == b".":
            self.mailbox.messages.append(b"".join(part + b"\r\n" for part in self.data))
            self.mailbox.over_tls.append(self.ssl_object is not None)
            self.data = None
            self.push(b"250 2.0.0 OK queued\r\n")
        else:
            self.data.append(line[1:] if line.startswith(b".") else line)


class POP3Server(Handler):
    """A POP3 server with STLS (RFC 2595) that serves a :class:`Mailbox`; it accepts
    any user and password, over TLS only."""

    def __init__(self, context: ssl.SSLContext, mailbox: Mailbox) -> None:
        super().__init__()
        self.context = context
        self.mailbox = mailbox

    def on_connect(self) -> None:
        self.push(b"+OK POP3 asyncframe ready\r\n")

    def on_frame(self, frame: bytes) -> None:
        verb, _, arg = frame.partition(b" ")
        verb = verb.upper()
        if verb == b"CAPA":
            caps = [b"USER"] if self.ssl_object is not None else [b"STLS", b"USER"]
            self.push(b"+OK\r\n" + b"".join(cap + b"\r\n" for cap in caps) + b".\r\n")
        elif verb == b"STLS":
            if self.ssl_object is not None:
                self.push(b"-ERR TLS already active\r\n")
                return
            self.push(b"+OK Begin TLS negotiation\r\n")
            self.start_tls(self.context)
        elif verb in (b"USER", b"PASS"):
            if self.ssl_object is None:
                self.push(b"-ERR use STLS first\r\n")
            else:
                self.push(b"+OK\r\n")
        elif verb == b"STAT":
            size = sum(len(m) for m in self.mailbox.messages)
            self.push(b"+OK %d %d\r\n" % (len(self.mailbox.messages), size))
        elif verb == b"RETR":
            try:
                message = self.mailbox.messages[int(arg) - 1]
            except (ValueError, IndexError):
                self.push(b"-ERR no such message\r\n")
                return
            lines = message.split(b"\r\n")[:-1] if message.endswith(b"\r\n") else [message]
            stuffed = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
            self.push(b"+OK %d octets\r\n" % len(message) + stuffed + b".\r\n")
        elif verb == b"QUIT":
            self.push(b"+OK bye\r\n")
            self.close_when_done()
        else:
            self.push(b"-ERR unknown command\r\n")


class IMAPServer(Handler):
    """An IMAP4rev1 server with STARTTLS (RFC 3501) and one mailbox, ``INBOX``, of
    the :class:`Mailbox`'s messages; ``LOGIN`` is refused until TLS is up."""

    def __init__(self, context: ssl.SSLContext, mailbox: Mailbox) -> None:
        super().__init__()
        self.context = context
        self.mailbox = mailbox

    def capabilities(self) -> bytes:
        if self.ssl_object is None:
            return b"CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED"
        return b"CAPABILITY IMAP4rev1 AUTH=PLAIN"

    def on_connect(self) -> None:
        self.push(b"* OK [" + self.capabilities() + b"] asyncframe IMAP ready\r\n")

    def on_frame(self, frame: bytes) -> None:
        tag, _, rest = frame.partition(b" ")
        command, _, args = rest.partition(b" ")
        command = command.upper()
        if command == b"CAPABILITY":
            self.push(b"* " + self.capabilities() + b"\r\n" + tag + b" OK CAPABILITY\r\n")
        elif command == b"STARTTLS":
            if self.ssl_object is not None:
                self.push(tag + b" BAD TLS already active\r\n")
                return
            self.push(tag + b" OK Begin TLS negotiation now\r\n")
            self.start_tls(self.context)
        elif command == b"LOGIN":
            if self.ssl_object is None:
                self.push(tag + b" NO [PRIVACYREQUIRED] use STARTTLS first\r\n")
            else:
                self.push(tag + b" OK LOGIN completed\r\n")
        elif command in (b"SELECT", b"EXAMINE"):
            count = len(self.mailbox.messages)
            self.push(b"* %d EXISTS\r\n* 0 RECENT\r\n" % count)
            self.push(b"* FLAGS (\\Seen)\r\n" + tag + b" OK [READ-WRITE] SELECT completed\r\n")
        elif command == b"FETCH":
            number, _, _ = args.partition(b" ")
            try:
                message = self.mailbox.messages[int(number) - 1]
            except (ValueError, IndexError):
                self.push(tag + b" NO no such message\r\n")
                return
            self.push(b"* %s FETCH (RFC822 {%d}\r\n" % (number, len(message)) + message + b")\r\n")
            self.push(tag + b" OK FETCH completed\r\n")
        elif command == b"LOGOUT":
            self.push(b"* BYE asyncframe IMAP logging out\r\n" + tag + b" OK LOGOUT completed\r\n")
            self.close_when_done()
        elif command == b"NOOP":
            self.push(tag + b" OK NOOP completed\r\n")
        else:
            self.push(tag + b" BAD unknown command\r\n")


class FTPServer(Handler):
    """The control connection of an FTP server with ``AUTH TLS`` (RFC 4217); no
    data connections: its working directory is the payload it can give."""

    def __init__(self, context: ssl.SSLContext, directory: str = "/") -> None:
        super().__init__()
        self.context = context
        self.directory = directory.encode()

    def on_connect(self) -> None:
        self.push(b"220 asyncframe FTP ready\r\n")

    def on_frame(self, frame: bytes) -> None:
        verb = frame.partition(b" ")[0].upper()
        if frame.upper() in (b"AUTH TLS", b"AUTH SSL"):
            if self.ssl_object is not None:
                self.push(b"503 TLS already active\r\n")
                return
            self.push(b"234 AUTH TLS successful\r\n")
            self.start_tls(self.context)
        elif verb in (b"USER", b"PASS") and self.ssl_object is None:
            self.push(b"530 AUTH TLS first\r\n")
        elif verb == b"USER":
            self.push(b"331 Password required\r\n")
        elif verb == b"PASS":
            self.push(b"230 Logged in\r\n")
        elif verb == b"PWD":
            self.push(b'257 "' + self.directory + b'" is the current directory\r\n')
        elif verb == b"SYST":
            self.push(b"215 UNIX Type: L8\r\n")
        elif verb == b"QUIT":
            self.push(b"221 Goodbye\r\n")
            self.close_when_done()
        else:
            self.push(b"502 Command not implemented\r\n")


def factory(protocol: str, context: ssl.SSLContext, mailbox: Mailbox) -> Callable[[], Handler]:
    """The handler factory of *protocol* (``smtp``, ``pop3``, ``imap`` or ``ftp``)."""
    makers: dict[str, Callable[[], Handler]] = {
        "smtp": lambda: SMTPReceiver(context, mailbox),
        "pop3": lambda: POP3Server(context, mailbox),
        "imap": lambda: IMAPServer(context, mailbox),
        "ftp": lambda: FTPServer(context),
    }
    return makers[protocol]


def main() -> None:
    """Serve one of the four protocols on the selectors loop until Ctrl-C."""
    from asyncframe.adapters.selectors import Loop

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("protocol", choices=("smtp", "pop3", "imap", "ftp"))
    parser.add_argument("--cert", required=True, help="the certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    with Loop() as loop:
        host, port = loop.listen(factory(args.protocol, context, Mailbox()), args.host, args.port)
        print(f"{args.protocol} with STARTTLS on {host}:{port} (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            loop.run()


if __name__ == "__main__":
    main()
