"""The engine's contract: every transition of its table happens, through the driver's
public calls, and nothing else does.

Each scenario drives a :class:`~asyncframe.Driver` by hand (no I/O) into one corner
of its life and checks where it ends; a recorder notes each transition taken. The
scenarios together must take every entry of ``TRANSITIONS``, and an event a state
has no entry for raises instead of moving the connection anywhere.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest

from asyncframe import Handler
from asyncframe import _driver as engine
from asyncframe._driver import TRANSITIONS, Driver, State

Transition = tuple[State, str, State]


class Replies(Handler):
    """Answers every line with *size* bytes; ``CLOSE``/``DONE`` close or close when done."""

    def __init__(self, size: int = 10) -> None:
        super().__init__(terminator=b"\n")
        self.size = size

    def on_frame(self, frame: bytes) -> None:
        if frame == b"CLOSE":
            self.close()
        elif frame == b"DONE":
            self.close_when_done()
        else:
            self.push(b"%-*s" % (self.size, frame))


class BigTail(Handler):
    """Streaming: answers a lone ``\\r`` (what EOF leaves of a split terminator) with
    20 bytes, anything else with one."""

    def on_data(self, data: bytes) -> None:
        self.push(b"t" * 20 if data == b"\r" else b".")


def held(size: int = 10) -> tuple[Replies, Driver]:
    """A driver whose input is held: three requests, room for one reply."""
    handler = Replies(size)
    driver = Driver(handler, high_water=10)
    driver.start()
    driver.receive(b"1\n2\n3\n")
    assert driver.state is State.HELD
    return handler, driver


def at_eof() -> tuple[Replies, Driver]:
    """A driver at the peer's EOF with input still held."""
    handler, driver = held()
    driver.receive(b"")
    assert driver.state is State.EOF
    return handler, driver


def drain(driver: Driver, size: int = 4) -> bytes:
    out = b""
    while data := driver.take(size):
        out += data
    return out


# -- the scenarios: each ends in the state it names -----------------------------------------


def start_then_lost() -> None:
    driver = Driver(Handler())
    driver.start()
    assert driver.state is State.OPEN
    driver.lost()
    assert driver.state is State.CLOSED


def lost_before_start() -> None:
    driver = Driver(Handler())
    driver.lost()
    assert driver.state is State.CLOSED


def close_before_start_then_again() -> None:
    handler = Handler()
    driver = Driver(handler)
    handler.close()
    assert driver.state is State.ABORTING
    handler.close()
    assert driver.state is State.ABORTING
    driver.lost()
    assert driver.state is State.CLOSED


def close_when_done_before_start() -> None:
    handler = Handler()
    driver = Driver(handler)
    handler.close_when_done()
    assert driver.state is State.IDLE  # not up yet: the close waits for the start
    driver.start()
    assert driver.state is State.DRAINING
    assert driver.finished


def held_resumes_then_eof_drains() -> None:
    _, driver = held()
    assert len(drain(driver, 10)) == 30  # drained to half the mark: the rest dispatched
    assert driver.state is State.OPEN
    driver.receive(b"")
    assert driver.state is State.DRAINING
    drain(driver)
    assert driver.finished
    driver.lost()


def eof_while_held_then_held_again_then_done() -> None:
    _, driver = held()
    driver.receive(b"4\n")
    driver.receive(b"")
    assert driver.state is State.EOF
    driver.take(10)  # one reply out: one more request in, still held at EOF
    assert driver.state is State.EOF
    assert len(drain(driver)) == 30
    assert driver.state is State.DRAINING
    driver.lost()


def eof_mid_terminator_holds_at_eof() -> None:
    driver = Driver(BigTail(), high_water=10)
    driver.start()
    driver.receive(b"ab\r")  # the \r may start a terminator: kept back
    assert driver.take(None) == b"."
    driver.receive(b"")  # EOF delivers the \r: its reply passes the mark
    assert driver.state is State.EOF
    assert drain(driver) == b"t" * 20
    assert driver.state is State.DRAINING


def close_when_done_in_a_callback() -> None:
    handler = Replies()
    driver = Driver(handler, high_water=100)
    driver.start()
    driver.receive(b"a\nDONE\nnever\n")
    assert driver.state is State.DRAINING
    assert drain(driver) == b"a" + b" " * 9
    driver.lost()


def close_when_done_in_on_eof() -> None:
    class Bye(Replies):
        def on_eof(self) -> None:
            self.push(b"bye")
            self.close_when_done()

    driver = Driver(Bye(), high_water=100)
    driver.start()
    driver.receive(b"a\n")
    driver.receive(b"")
    assert driver.state is State.DRAINING
    assert drain(driver) == b"a" + b" " * 9 + b"bye"
    assert driver.finished


def close_in_a_callback() -> None:
    driver = Driver(Replies(), high_water=100)
    driver.start()
    driver.receive(b"a\nCLOSE\n")
    assert driver.state is State.ABORTING
    assert driver.take(None) == b""


def close_when_done_while_held() -> None:
    handler, driver = held()
    handler.close_when_done()
    assert driver.state is State.DRAINING


def close_while_held() -> None:
    handler, driver = held()
    handler.close()
    assert driver.state is State.ABORTING


def lost_while_held() -> None:
    _, driver = held()
    driver.lost()
    assert driver.state is State.CLOSED


def close_when_done_at_eof() -> None:
    handler, driver = at_eof()
    handler.close_when_done()
    assert driver.state is State.DRAINING


def close_at_eof() -> None:
    handler, driver = at_eof()
    handler.close()
    assert driver.state is State.ABORTING


def lost_at_eof() -> None:
    _, driver = at_eof()
    driver.lost()
    assert driver.state is State.CLOSED


def close_while_draining() -> None:
    handler = Replies()
    driver = Driver(handler, high_water=100)
    driver.start()
    driver.receive(b"DONE\n")
    assert driver.state is State.DRAINING
    handler.close()
    assert driver.state is State.ABORTING


def idle_timeout_aborts() -> None:
    now = [0.0]
    driver = Driver(Handler(), idle_timeout=1.0, clock=lambda: now[0])
    driver.start()
    assert driver.idle_check(5.0) is None
    assert driver.state is State.ABORTING


def input_limit_aborts() -> None:
    driver = Driver(Replies(), high_water=10, input_limit=64)
    driver.start()
    driver.receive(b"1\n2\n")
    assert driver.state is State.HELD
    driver.receive(b"x" * 100)
    assert driver.state is State.ABORTING


CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)


class Upgrades(Replies):
    """``STARTTLS`` answers ``GO`` then starts TLS; ``STARTTLS-FAIL`` raises after it."""

    def on_frame(self, frame: bytes) -> None:
        if frame.startswith(b"STARTTLS"):
            self.push(b"GO\n")
            self.start_tls(CONTEXT)
            if frame == b"STARTTLS-FAIL":
                self.push(b"over tls\n")
                raise RuntimeError("a callback that fails after start_tls()")
        else:
            super().on_frame(frame)


def upgrading() -> tuple[Upgrades, Driver]:
    """A driver whose handler asked for TLS, its clear-text reply taken."""
    handler = Upgrades()
    driver = Driver(handler, high_water=100)
    driver.start()
    driver.receive(b"STARTTLS\n")
    assert driver.state is State.UPGRADING
    assert driver.take(None) == b"GO\n"
    assert driver.upgrade_due
    return handler, driver


def starttls_then_tls_started() -> None:
    handler, driver = upgrading()
    handler.push(b"over tls\n")  # waits for the handshake
    assert driver.take(None) == b""
    driver.tls_started()
    assert driver.state is State.OPEN
    assert driver.take(None) == b"over tls\n"
    driver.receive(b"a\n")
    assert driver.take(None) == b"a" + b" " * 9


def starttls_while_held_with_clear_input_aborts() -> None:
    handler, driver = held()
    handler.start_tls(CONTEXT)  # requests wait, read in clear text: an injection
    assert driver.state is State.ABORTING


def starttls_handshake_failed() -> None:
    _, driver = upgrading()
    driver.tls_failed(ssl.SSLError("handshake"))
    assert driver.state is State.ABORTING


def lost_while_upgrading() -> None:
    _, driver = upgrading()
    driver.lost()
    assert driver.state is State.CLOSED


def raising_after_starttls_closes_after_the_handshake() -> None:
    handler = Upgrades()
    driver = Driver(handler, high_water=100)
    driver.start()
    driver.receive(b"STARTTLS-FAIL\n")
    assert driver.state is State.UPGRADING  # the close waits for the handshake
    assert driver.take(None) == b"GO\n"
    driver.tls_started()
    assert driver.state is State.DRAINING
    assert driver.take(None) == b"over tls\n"  # pushed before the failure: sent over TLS
    assert driver.finished


SCENARIOS: list[Callable[[], None]] = [
    start_then_lost,
    lost_before_start,
    close_before_start_then_again,
    close_when_done_before_start,
    held_resumes_then_eof_drains,
    eof_while_held_then_held_again_then_done,
    eof_mid_terminator_holds_at_eof,
    close_when_done_in_a_callback,
    close_when_done_in_on_eof,
    close_in_a_callback,
    close_when_done_while_held,
    close_while_held,
    lost_while_held,
    close_when_done_at_eof,
    close_at_eof,
    lost_at_eof,
    close_while_draining,
    idle_timeout_aborts,
    input_limit_aborts,
    starttls_then_tls_started,
    starttls_while_held_with_clear_input_aborts,
    starttls_handshake_failed,
    lost_while_upgrading,
    raising_after_starttls_closes_after_the_handshake,
]


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[Transition]:
    """The transitions every driver takes while the test runs."""
    record: list[Transition] = []
    follow = Driver._to

    def recording(self: Driver, event: str) -> None:
        before = self.state
        follow(self, event)
        record.append((before, event, self.state))

    monkeypatch.setattr(Driver, "_to", recording)
    return record


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_each_scenario_follows_the_table(
    scenario: Callable[[], None], taken: list[Transition]
) -> None:
    scenario()
    assert taken, "the scenario took no transition"
    for before, event, after in taken:
        assert TRANSITIONS[before][event] is after


def test_the_scenarios_take_every_transition(taken: list[Transition]) -> None:
    for scenario in SCENARIOS:
        scenario()
    table = {(state, event) for state, events in TRANSITIONS.items() for event in events}
    missing = table - {(before, event) for before, event, _ in taken}
    assert not missing, f"transitions of the table no scenario takes: {sorted(map(str, missing))}"


EVENTS = sorted({event for events in TRANSITIONS.values() for event in events})
INVALID = [(state, event) for state in State for event in EVENTS if event not in TRANSITIONS[state]]


def test_every_state_has_entries() -> None:
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(("state", "event"), INVALID, ids=lambda x: str(getattr(x, "name", x)))
def test_an_event_a_state_has_no_entry_for_raises(state: State, event: str) -> None:
    driver = Driver(Handler())
    driver.state = state
    with pytest.raises(RuntimeError, match=f"no transition for {event!r} from {state}"):
        driver._to(event)
    assert driver.state is state  # nothing moved


def test_receive_before_start_raises() -> None:
    driver = Driver(Handler())
    with pytest.raises(RuntimeError, match="before start"):
        driver.receive(b"x")
    assert driver.state is State.IDLE


def test_only_the_table_assigns_the_state() -> None:
    # The engine's source assigns self.state in one place, _to() (the constructor
    # sets the first one).
    import inspect

    source = inspect.getsource(engine.Driver)
    assert source.count("self.state = ") == 2
