"""The command line, run as a user runs it: ``python -m asyncframe ...`` in a subprocess."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from asyncframe._cli import demo, main
from asyncframe._cli.serve import MAX_LINE, MAX_QUEUED

ADAPTERS = ["selectors", "asyncio", "trio", "asynchat"]
PROG = "python -m asyncframe"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncframe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- demo ------------------------------------------------------------------------------


def test_demo_passes_on_every_adapter_and_shows_the_conversation() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = result.stdout.strip().splitlines()[-len(ADAPTERS) :]
    assert [line.split()[0] for line in verdicts] == ADAPTERS
    for line in verdicts:
        assert "ok: 4 replies exact, closed cleanly" in line
    assert result.stdout.count("  server> WELCOME ada") == len(ADAPTERS)
    assert result.stdout.count("  server> GOT 5 bytes, sum 15") == len(ADAPTERS)


def test_demo_fails_with_status_1_when_a_reply_is_wrong(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_answer = demo.answer

    def wrong(line: bytes) -> tuple[bytes, int | None, bool]:
        reply, size, quit_ = real_answer(line)
        return reply.replace(b"WELCOME", b"GO AWAY"), size, quit_

    monkeypatch.setattr(demo, "answer", wrong)
    status = main(["demo", "--adapter", "selectors,asynchat"])
    out = capsys.readouterr().out
    assert status == 1
    assert "server> GO AWAY ada" in out
    # Each of the two adapters fails under its conversation and in the summary.
    assert out.count("FAILED: expected") == 4
    assert "selectors  FAILED" in out
    assert "asynchat   FAILED" in out


# -- serve -----------------------------------------------------------------------------


@contextmanager
def server(adapter: str, *extra: str) -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """Start ``serve --port 0`` on *adapter*; yield the process, its port and its banner."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncframe", "serve", "--adapter", adapter, "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background process may inherit SIGINT ignored; Ctrl-C must reach this one.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"asyncframe chat ({adapter}) listening on 127.0.0.1:" in banner, banner
        port = int(banner.split("127.0.0.1:")[1].split()[0])
        assert f"try: nc 127.0.0.1 {port}" in banner
        yield proc, port, banner.rstrip("\n")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class Client:
    """A blocking line client with a deadline on every read."""

    def __init__(self, port: int, terminator: bytes = b"\n") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.terminator = terminator
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while self.terminator not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError(f"closed with {self.buffer!r} unterminated")
            self.buffer += data
        line, self.buffer = self.buffer.split(self.terminator, 1)
        return line

    def at_eof(self) -> bool:
        while True:
            data = self.sock.recv(65536)
            if not data:
                return True
            self.buffer += data

    def close(self) -> None:
        self.sock.close()


def stop(proc: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_serve_echoes_relays_and_stops_cleanly_on_ctrl_c(adapter: str) -> None:
    with server(adapter) as (proc, port, _):
        ada = Client(port)
        assert ada.line().startswith(f"welcome guest1: asyncframe chat on {adapter}".encode())
        bob = Client(port)
        assert bob.line().startswith(b"welcome guest2")
        bob.send(b"/who\n")
        assert bob.line() == b"connected: guest1 guest2"
        # A line sent in pieces, the way telnet ends it (\r\n): echoed and relayed.
        for piece in (b"hel", b"lo th", b"ere\r", b"\n"):
            bob.send(piece)
            time.sleep(0.01)
        assert bob.line() == b"hello there"
        assert ada.line() == b"[guest2] hello there"
        ada.send(b"/quit\n")
        assert ada.line() == b"bye"
        assert ada.at_eof()
        bob.send(b"/who\n")
        assert bob.line() == b"connected: guest2"
        ada.close()
        bob.close()
        status, out, err = stop(proc, signal.SIGINT)
    assert (status, out.strip(), err) == (0, "stopped", "")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_serve_closes_a_line_that_is_too_long_and_stops_on_sigterm(adapter: str) -> None:
    with server(adapter, "--terminator", r"\r\n") as (proc, port, _):
        flooder = Client(port, b"\r\n")
        other = Client(port, b"\r\n")
        assert flooder.line().startswith(b"welcome guest1")
        assert other.line().startswith(b"welcome guest2")
        flooder.send(b"x" * (MAX_LINE + 1))
        assert flooder.line() == b"error: line longer than %d bytes; closing" % MAX_LINE
        assert flooder.at_eof()
        other.send(b"still here\r\n")  # the server goes on serving the others
        assert other.line() == b"still here"
        flooder.close()
        other.close()
        status, out, err = stop(proc, signal.SIGTERM)
    assert (status, out.strip(), err) == (0, "stopped", "")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_serve_drops_a_member_that_never_reads(adapter: str) -> None:
    """A member whose unsent output passes MAX_QUEUED is dropped, and the others told.

    The server logs how many bytes were waiting for it when it was dropped: that
    is the most the room ever queued for it, so its memory stayed bounded.
    """
    with server(adapter) as (proc, port, _):
        sleeper = socket.socket()
        # A small receive window, so the relayed lines pile up in the server.
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.settimeout(20)
        sleeper.connect(("127.0.0.1", port))
        talker = Client(port)
        assert talker.line().startswith(b"welcome guest2")
        line = b"z" * 4000
        seen: list[bytes] = []
        # Up to ten times the bound, in rounds of 32 lines whose echoes are read.
        for _ in range(10 * MAX_QUEUED // (32 * len(line)) + 1):
            talker.send((line + b"\n") * 32)
            echoed = 0
            while echoed < 32:
                got = talker.line()
                if got == line:
                    echoed += 1
                else:
                    seen.append(got)
            if seen:
                break
        talker.send(b"/who\n")
        while (got := talker.line()) == line:
            pass
        seen.append(got)
        assert seen[0] == b"* guest1 was dropped: it stopped reading"
        assert seen[-1] == b"connected: guest2"
        sleeper.close()
        talker.close()
        status, out, err = stop(proc, signal.SIGTERM)
    assert (status, err) == (0, "")
    log, last = out.strip().splitlines()[-2:]
    assert last == "stopped"
    assert log.startswith("dropped guest1: ")
    assert log.endswith(" bytes of output waiting (it stopped reading)")
    waiting = int(log.split()[2])
    assert MAX_QUEUED < waiting <= MAX_QUEUED + len(line) + 20


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_serve_reports_an_address_in_use_in_one_line(adapter: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--adapter", adapter, "--port", str(port), timeout=30)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{PROG} serve: error: [Errno 98]")
    assert result.stderr.count("\n") == 1
    assert "in use" in result.stderr


# -- bad arguments and help --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ((), "COMMAND"),
        (("serve", "--backend", "trio"), "unrecognized arguments: --backend"),
        (("fly",), "invalid choice: 'fly'"),
        (("serve", "--port", "70000"), "--port: invalid port '70000'"),
        (("serve", "--port", "eighty"), "--port: invalid port 'eighty'"),
        (("serve", "--terminator", ""), "--terminator: the terminator must not be empty"),
        (("serve", "--terminator", "\u00e9\u20ac"), "--terminator: invalid terminator"),
        (("serve", "--adapter", "twisted"), "--adapter: invalid choice: 'twisted'"),
        (("demo", "--adapter", "selectors,gevent"), "--adapter: unknown adapter gevent"),
    ],
)
def test_a_bad_argument_is_one_line_naming_it(args: tuple[str, ...], names: str) -> None:
    result = run_cli(*args, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(PROG)
    assert names in result.stderr
    assert result.stderr.rstrip().endswith("--help)")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [(), ("demo",), ("serve",), ("bench",)])
def test_help_everywhere(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help", timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {PROG}")
    assert result.stderr == ""


def test_terminator_escapes_are_decoded(capsys: pytest.CaptureFixture[str]) -> None:
    from asyncframe._cli import _terminator

    assert _terminator(r"\r\n") == b"\r\n"
    assert _terminator(r"\x00") == b"\x00"
    assert _terminator("END") == b"END"


# -- bench -----------------------------------------------------------------------------


def test_bench_points_to_the_repository_benchmarks() -> None:
    result = run_cli("bench", timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "python -m benchmarks" in result.stderr


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
@pytest.mark.parametrize("adapter", ["selectors", "asyncio", "trio"])
def test_serve_workers_share_one_port(adapter: str) -> None:
    """``--workers 2``: two processes answer on one port (their pids in the greetings)."""
    if adapter == "trio":
        pytest.importorskip("trio")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asyncframe",
            "serve",
            "--adapter",
            adapter,
            "--port",
            "0",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "with 2 workers (pids " in banner, banner
        port = int(banner.split("127.0.0.1:")[1].split()[0])
        pids = set(banner.split("(pids ")[1].split(")")[0].split(", "))
        seen: set[str] = set()
        for _ in range(200):  # the system picks a worker per connection
            client = Client(port)
            greeting = client.line().decode()
            client.close()
            seen.add(greeting.split("worker pid ")[1].split(")")[0].split(";")[0])
            if len(seen) == 2:
                break
        assert seen == pids
        status, out, err = stop(proc, signal.SIGINT)
        assert status == 0, err
        assert out.rstrip().endswith("stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_workers_need_a_shared_port_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--adapter", "asynchat", "--workers", "2"]) == 2
    assert "--workers needs a port shared" in capsys.readouterr().err
