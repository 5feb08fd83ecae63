"""An SMTP receiver: accepts mail for anyone and prints each message it receives.

Run it, then send it mail with any SMTP client, for instance Python's own::

    python -m examples.smtp_receiver --adapter asyncio --port 8025

    # in another terminal
    python -c 'import smtplib; smtplib.SMTP("127.0.0.1", 8025).sendmail(
        "me@example.org", ["you@example.org"], "Subject: hi\\r\\n\\r\\nhello\\r\\n")'

What it shows: a line protocol whose state (the command phase, the message
body) decides what each line means; SMTP's dot-stuffing (a body line that
starts with a dot is sent with one more dot, and a line of one dot ends the
message); and a size limit that is kept while the message streams in, so an
oversized message costs no memory. It speaks the part of RFC 5321 a client
needs to deliver mail: EHLO/HELO, MAIL (with ``SIZE=``), RCPT, DATA, RSET,
NOOP, QUIT.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from asyncframe import FrameTooLong, Handler

#: The largest message accepted, in bytes (advertised to clients as ``SIZE``).
MAX_MESSAGE = 1 << 20
#: The longest command or text line (RFC 5321 allows 1,000 with the CRLF; be lenient).
MAX_LINE = 4096

Message = tuple[str, list[str], bytes]  # sender, recipients, the message as sent


class SMTPReceiver(Handler):
    """One SMTP session. *deliver* is called with each message received."""

    def __init__(self, deliver: Callable[[Message], None], hostname: str = "localhost") -> None:
        super().__init__(terminator=b"\r\n", max_frame_size=MAX_LINE)
        self.deliver = deliver
        self.hostname = hostname
        self.reset()

    def reset(self) -> None:
        """Forget the transaction in progress (RSET, a new MAIL, a delivered message)."""
        self.sender: str | None = None
        self.recipients: list[str] = []
        # While a message is read (after DATA): its lines so far, else None.
        self.body: list[bytes] | None = None
        self.size = 0
        self.too_big = False

    def reply(self, text: str) -> None:
        self.push(text.encode("ascii") + b"\r\n")

    # -- the callbacks -------------------------------------------------------------

    def on_connect(self) -> None:
        self.reply(f"220 {self.hostname} asyncframe example SMTP receiver")

    def on_frame(self, line: bytes) -> None:
        # Every line ends with CRLF, in both phases: reading the body line by line
        # (rather than with the terminator b"\r\n.\r\n") is what makes an empty
        # message ("DATA", then ".") and the commands after it come out right.
        if self.body is None:
            self.command(line)
        else:
            self.body_line(line)

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        # The line was dropped and the channel skips to its end; the session goes on.
        if self.body is None:
            self.reply("500 5.5.2 line too long")
        else:
            self.too_big = True  # a body line over MAX_LINE: refuse the message

    def on_eof(self) -> None:
        self.reset()  # the client left mid-transaction: nothing is delivered

    # -- the body ------------------------------------------------------------------

    def body_line(self, line: bytes) -> None:
        assert self.body is not None
        if line == b".":
            self.end_of_message()
            return
        if line.startswith(b"."):
            line = line[1:]  # dot-stuffing: the client doubled a leading dot
        self.size += len(line) + 2
        if self.size > MAX_MESSAGE:
            # Keep reading to the dot (the client is still sending), keep nothing.
            self.too_big = True
            self.body.clear()
        elif not self.too_big:
            self.body.append(line)

    def end_of_message(self) -> None:
        assert self.body is not None
        assert self.sender is not None
        if self.too_big:
            self.reply("552 5.3.4 message exceeds fixed maximum message size")
        else:
            message = b"\r\n".join(self.body) + (b"\r\n" if self.body else b"")
            self.deliver((self.sender, self.recipients, message))
            self.reply("250 2.0.0 OK: queued")
        self.reset()

    # -- the commands ----------------------------------------------------------------

    def command(self, line: bytes) -> None:
        text = line.decode("ascii", "replace")
        verb, _, arg = text.partition(" ")
        verb = verb.upper()
        if verb == "EHLO":
            self.reset()
            # Multi-line reply: "250-" on every line but the last.
            self.reply(f"250-{self.hostname} greets {arg or 'you'}")
            self.reply(f"250-SIZE {MAX_MESSAGE}")
            self.reply("250-8BITMIME")
            # STARTTLS goes here: advertise "250-STARTTLS" once the server has a TLS
            # context, and answer the STARTTLS verb below.
            self.reply("250 HELP")
        elif verb == "HELO":
            self.reset()
            self.reply(f"250 {self.hostname}")
        elif verb == "MAIL":
            self.mail(arg)
        elif verb == "RCPT":
            self.rcpt(arg)
        elif verb == "DATA":
            if not self.recipients:
                self.reply("503 5.5.1 RCPT first")
                return
            self.body = []
            self.reply("354 end data with <CR><LF>.<CR><LF>")
        elif verb == "RSET":
            self.reset()
            self.reply("250 2.0.0 OK")
        elif verb == "NOOP":
            self.reply("250 2.0.0 OK")
        elif verb == "QUIT":
            self.reply("221 2.0.0 bye")
            self.close_when_done()
        elif verb == "STARTTLS":
            # The place for STARTTLS (RFC 3207): reply "220 ready to start TLS",
            # then upgrade this connection in place; the session starts afresh
            # (reset(), and the client sends EHLO again). Until an upgrade call
            # exists, it is not offered.
            self.reply("502 5.5.1 STARTTLS not offered")
        else:
            self.reply("500 5.5.2 command not recognized")

    def mail(self, arg: str) -> None:
        if not arg.upper().startswith("FROM:"):
            self.reply("501 5.5.4 syntax: MAIL FROM:<address>")
            return
        address, *params = arg[5:].strip().split()
        for param in params:
            key, _, value = param.partition("=")
            # A client that knows the message size says so, to be refused early.
            if key.upper() == "SIZE" and value.isdigit() and int(value) > MAX_MESSAGE:
                self.reply("552 5.3.4 message exceeds fixed maximum message size")
                return
        self.reset()
        self.sender = address.strip("<>")
        self.reply("250 2.1.0 OK")

    def rcpt(self, arg: str) -> None:
        if self.sender is None:
            self.reply("503 5.5.1 MAIL first")
        elif not arg.upper().startswith("TO:"):
            self.reply("501 5.5.4 syntax: RCPT TO:<address>")
        else:
            self.recipients.append(arg[3:].strip().strip("<>"))
            self.reply("250 2.1.5 OK")


def print_message(message: Message) -> None:
    """What the command line does with a message: show it."""
    sender, recipients, data = message
    print(f"--- from {sender} to {', '.join(recipients)}, {len(data)} bytes")
    print(data.decode("utf-8", "replace"), flush=True)


def main(argv: list[str] | None = None) -> int:
    from examples._run import run_server

    return run_server(lambda: SMTPReceiver(print_message), __doc__, 8025, argv)


if __name__ == "__main__":
    sys.exit(main())
