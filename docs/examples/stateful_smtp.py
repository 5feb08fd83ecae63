"""A stateful hypothesis test of MiniSMTP: random sessions, fed in random pieces."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from smtp_like import MiniSMTP

from asyncframe import Driver

ADDRESSES = st.sampled_from([b"<a@x.org>", b"<b@y.net>", b"<c@z.com>"])
BODY_LINES = st.lists(st.sampled_from([b"hi", b".dot first", b"", b"x" * 50]), max_size=4)


class SMTPSession(RuleBasedStateMachine):
    """The model: what the server must have delivered, and how many replies it owes."""

    def __init__(self) -> None:
        super().__init__()
        self.server = MiniSMTP()
        self.driver = Driver(self.server)  # runs it as every adapter does
        self.driver.start()
        self.sent = bytearray(self.driver.take(None))
        self.replies_expected = 1  # the greeting
        self.mail_from: bytes | None = None
        self.recipients: list[bytes] = []
        self.delivered: list[tuple[bytes, list[bytes], bytes]] = []
        self.pending = b""

    def send(self, data: bytes, cut: int) -> None:
        """Feed *data* in two pieces, split at *cut*, then collect the replies."""
        cut %= len(data) + 1
        for piece in (data[:cut], data[cut:]):
            if piece:
                self.driver.receive(piece)
                self.sent += self.driver.take(None)

    @rule(name=st.sampled_from([b"client", b"x.example"]), cut=st.integers(0, 40))
    def helo(self, name: bytes, cut: int) -> None:
        self.send(b"HELO " + name + b"\r\n", cut)
        self.replies_expected += 1

    @rule(addr=ADDRESSES, cut=st.integers(0, 40))
    def mail_from_(self, addr: bytes, cut: int) -> None:
        self.send(b"MAIL FROM:" + addr + b"\r\n", cut)
        self.mail_from, self.recipients = addr, []
        self.replies_expected += 1

    @precondition(lambda self: self.mail_from is not None)
    @rule(addr=ADDRESSES, cut=st.integers(0, 40))
    def rcpt_to(self, addr: bytes, cut: int) -> None:
        self.send(b"RCPT TO:" + addr + b"\r\n", cut)
        self.recipients.append(addr)
        self.replies_expected += 1

    @precondition(lambda self: bool(self.recipients))
    @rule(lines=BODY_LINES, cut=st.integers(0, 200))
    def data(self, lines: list[bytes], cut: int) -> None:
        stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
        body = b"\r\n".join(stuffed)
        self.send(b"DATA\r\n" + body + b"\r\n.\r\n", cut)
        assert self.mail_from is not None
        self.delivered.append((self.mail_from, self.recipients, b"\r\n".join(lines)))
        self.mail_from, self.recipients = None, []
        self.replies_expected += 2  # 354, then 250 queued

    @invariant()
    def delivered_as_the_model_says(self) -> None:
        assert self.server.delivered == self.delivered

    @invariant()
    def one_reply_per_command(self) -> None:
        replies = bytes(self.sent).split(b"\r\n")[:-1]
        assert len(replies) == self.replies_expected
        assert all(reply[:3].isdigit() for reply in replies)
