"""A tiny SMTP-like protocol, written as an asyncframe Handler, and a buggy twin.

Commands end with CRLF: ``HELO <name>``, ``MAIL FROM:<addr>``, ``RCPT TO:<addr>``,
``DATA`` (then the message, ended by a line holding a single dot, with leading dots
doubled as in SMTP; the message may be empty), ``QUIT``. The server keeps the delivered messages.
"""

from __future__ import annotations

from asyncframe import Handler


class MiniSMTP(Handler):
    """The correct server: frames are collected from every on_data piece."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\r\n")
        self.parts: list[bytes] = []
        # While a message is read (after DATA), its lines so far; None otherwise.
        self.body: list[bytes] | None = None
        self.mail_from: bytes | None = None
        self.recipients: list[bytes] = []
        self.delivered: list[tuple[bytes, list[bytes], bytes]] = []

    def on_connect(self) -> None:
        self.push(b"220 mini ready\r\n")

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def frame(self) -> bytes:
        frame = b"".join(self.parts)
        self.parts.clear()
        return frame

    def on_terminator(self, terminator: bytes | int) -> None:
        line = self.frame()
        if self.body is None:
            self.command(line)
        elif line == b".":
            self.deliver(self.body)
        else:
            # The message is read line by line, so that the dot line ends it even
            # right after DATA (an empty message); a leading dot was doubled by
            # the client and is undone here.
            self.body.append(line[1:] if line.startswith(b".") else line)

    def deliver(self, lines: list[bytes]) -> None:
        assert self.mail_from is not None
        self.delivered.append((self.mail_from, self.recipients, b"\r\n".join(lines)))
        self.mail_from, self.recipients, self.body = None, [], None
        self.push(b"250 queued\r\n")

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"HELO":
            self.push(b"250 hello " + line[5:] + b"\r\n")
        elif line.upper().startswith(b"MAIL FROM:"):
            # A new transaction: earlier recipients are forgotten.
            self.mail_from, self.recipients = line[10:], []
            self.push(b"250 ok\r\n")
        elif line.upper().startswith(b"RCPT TO:") and self.mail_from is not None:
            self.recipients.append(line[8:])
            self.push(b"250 ok\r\n")
        elif verb == b"DATA" and self.recipients:
            self.body = []
            self.push(b"354 end with <CRLF>.<CRLF>\r\n")
        elif verb == b"QUIT":
            self.push(b"221 bye\r\n")
            self.close_when_done()
        else:
            self.push(b"500 what?\r\n")


class BuggyMiniSMTP(MiniSMTP):
    """The planted bug: it assumes each command arrives in one on_data call.

    That holds when the client's writes arrive whole, as in most hand-written
    tests, and breaks as soon as the network splits a line.
    """

    def on_data(self, data: bytes) -> None:
        self.parts = [data]  # BUG: drops the earlier pieces of the same frame


SESSION = (
    b"HELO client.example\r\n"
    b"MAIL FROM:<alice@example.org>\r\n"
    b"RCPT TO:<bob@example.org>\r\n"
    b"DATA\r\n"
    b"Subject: hi\r\n"
    b"\r\n"
    b"..a line that starts with a dot\r\n"
    b"bye\r\n"
    b".\r\n"
    b"QUIT\r\n"
)
