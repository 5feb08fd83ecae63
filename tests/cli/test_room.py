"""The chat room's rules, without sockets: relaying, and dropping members that stop reading."""

from __future__ import annotations

from asyncframe._cli.serve import MAX_QUEUED, Member, Room


class Peer:
    """A member's connection: what was pushed, and whether it reads (drains) it."""

    def __init__(self, room: Room, *, reads: bool) -> None:
        self.reads = reads
        self.pushed: list[bytes] = []
        self.waiting = 0
        self.peak = 0
        self.aborted = self.closing = False
        self.member = Member(self.push, lambda: self.waiting, self.close_when_done, self.abort)
        room.join(self.member)

    def push(self, data: bytes) -> None:
        assert not self.aborted, "pushed to a dropped member"
        self.pushed.append(data)
        if not self.reads:
            self.waiting += len(data)
            self.peak = max(self.peak, self.waiting)

    def close_when_done(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.aborted = True
        self.waiting = 0  # the connection's queue is freed with it


def test_members_that_stop_reading_are_dropped_and_the_others_told() -> None:
    log: list[str] = []
    room = Room(b"\n", "test", log.append)
    talker = Peer(room, reads=True)
    sleepers = [Peer(room, reads=False) for _ in range(2)]
    line = b"y" * 4000
    sent = 0
    while not all(s.aborted for s in sleepers) and sent < 4 * MAX_QUEUED:
        room.line(talker.member, line)
        sent += len(line)
    assert all(s.aborted for s in sleepers)
    assert list(room.members) == ["guest1"]
    # Each held at most the bound plus the one line that passed it.
    for sleeper in sleepers:
        assert MAX_QUEUED < sleeper.peak <= MAX_QUEUED + len(b"[guest1] ") + len(line) + 1
    assert [x for x in talker.pushed if x.startswith(b"*")] == [
        b"* guest2 was dropped: it stopped reading\n",
        b"* guest3 was dropped: it stopped reading\n",
    ]
    assert [entry.split(":")[0] for entry in log] == ["dropped guest2", "dropped guest3"]
    # A dropped member's lines are ignored; the room goes on.
    room.line(sleepers[0].member, b"late")
    room.line(talker.member, b"/who")
    assert talker.pushed[-1] == b"connected: guest1\n"


def test_a_drop_notice_that_fills_another_slow_member_drops_it_too() -> None:
    log: list[str] = []
    room = Room(b"\n", "test", log.append)
    talker = Peer(room, reads=True)
    first, second = Peer(room, reads=False), Peer(room, reads=False)
    relayed = b"[guest1] hi\n"
    first.waiting = MAX_QUEUED
    # The relayed line brings the second exactly to the bound, not past it...
    second.waiting = MAX_QUEUED - len(relayed)
    room.line(talker.member, b"hi")
    # ...the first's drop notice then passes it.
    assert second.pushed[-2:] == [relayed, b"* guest2 was dropped: it stopped reading\n"]
    assert first.aborted
    assert second.aborted
    assert [entry.split(":")[0] for entry in log] == ["dropped guest2", "dropped guest3"]
    assert list(room.members) == ["guest1"]
