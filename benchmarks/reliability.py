"""Reliability of each adapter under load and under faults: nothing lost, nothing stuck.

For each adapter (the selectors ``Loop``, asyncio ``serve()``, trio ``serve()`` and
the ``async_chat`` drop-in under ``asyncore.loop``) an echo server runs in its own
process, so its peak memory is its own, and this process drives it over loopback:

1. **load**: ``--clients`` clients (1,000 by default) connect, all at once, and each
   sends 20 distinct lines in pieces of random sizes; every echoed byte is checked;
2. **soak**: for ``--soak`` seconds (60 by default), ``--concurrency`` well-behaved
   clients churn (each connects, exchanges 1-50 lines, closes, and is replaced)
   while faulty clients keep arriving: resets in the middle of a line, half-closes
   after an unterminated tail, one-byte-at-a-time writers, clients that send
   megabytes and never read, and floods of 1-3 byte writes.

The echo server returns every byte it receives (an unterminated tail included), so
every client that does not reset can check all of its bytes: *bytes lost* counts
the bytes such clients sent and never got back, and must be 0. The report gives
connections served, bytes in and out on both sides, server errors logged, and the
server's peak RSS.

Then, for selectors, asyncio and trio, the attacks of :mod:`benchmarks._attacks`:
an endless line, never-readers sending many requests per write, an endless producer
whose peer leaves, a burst of connects to a server out of descriptors, idle peers
(10 % slowloris) against an idle timeout; and the memory per idle connection (RSS
delta over 2,000 connections, ``--memory-runs`` runs). Per adapter the report gives
peak RSS, CPU while out of descriptors, bytes lost (must be 0) and connections served.

Run, from a checkout: ``python -m benchmarks.reliability [--clients 10000] [--soak 60]
[--adapters selectors,asyncio,trio,asynchat] [--attacks full|small|none]``. The exit
status is 1 if a byte was lost or corrupted, or a checked client failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks._attacks import SIZES, attack_adapter, print_attacks, serve_attacks
from benchmarks._support import REPO_ROOT, raise_fd_limit

ADAPTERS = ("selectors", "asyncio", "trio", "asynchat")
FAULTS = ("reset", "half-close", "one-byte", "never-read", "tiny-flood")


# -- the server process ------------------------------------------------------------------


@dataclass
class ServerStats:
    """What the server saw; updated only by the server's own thread."""

    accepted: int = 0
    closed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)


class ErrorCounter(logging.Handler):
    """Counts the ERROR records the adapters log (an exception in user code, say)."""

    def __init__(self, stats: ServerStats) -> None:
        super().__init__(logging.ERROR)
        self.stats = stats

    def emit(self, record: logging.LogRecord) -> None:
        self.stats.errors += 1
        if len(self.stats.first_errors) < 5:
            self.stats.first_errors.append(record.getMessage())


def make_echo_handler(stats: ServerStats) -> Callable[[], Any]:
    from asyncframe import Handler

    class Echo(Handler):
        """Echoes every byte: each payload piece as it comes, each terminator."""

        def __init__(self) -> None:
            super().__init__(terminator=b"\n", max_frame_size=1 << 20)

        def on_connect(self) -> None:
            stats.accepted += 1

        def on_data(self, data: bytes) -> None:
            stats.bytes_in += len(data)
            stats.bytes_out += len(data)
            self.push(data)

        def on_terminator(self, terminator: bytes | int) -> None:
            stats.bytes_in += 1
            stats.bytes_out += 1
            self.push(b"\n")

        def on_close(self) -> None:
            stats.closed += 1

    return Echo


def serve(adapter: str) -> None:
    """Run the echo server on *adapter*; print ``PORT n``; stop when stdin closes."""
    raise_fd_limit()
    stats = ServerStats()
    logging.getLogger("asyncframe").addHandler(ErrorCounter(stats))
    factory = make_echo_handler(stats)
    stop_requested = threading.Event()

    def announce(port: int, stop: Callable[[], None]) -> None:
        def watch() -> None:
            sys.stdin.read()  # returns when the driver closes our stdin
            stop_requested.set()
            stop()

        threading.Thread(target=watch, daemon=True).start()
        print(f"PORT {port}", flush=True)

    if adapter != "asynchat":
        under_test = server_adapter(adapter)
        _, port = under_test.start(factory, backlog=4096)
        announce(port, lambda: None)
        stop_requested.wait()
        under_test.stop()
    else:
        serve_asynchat(stats, announce, stop_requested)
    memory = {"peak_rss_kib": rss_kib("VmHWM"), "end_rss_kib": rss_kib("VmRSS")}
    print(json.dumps({**stats.__dict__, **memory}), flush=True)


def server_adapter(adapter: str) -> Any:
    """The :mod:`asyncframe.testing` adapter that serves on *adapter* in a thread."""
    from asyncframe.testing import AsyncioAdapter, SelectorsAdapter, TrioAdapter

    kinds = {"selectors": SelectorsAdapter, "asyncio": AsyncioAdapter, "trio": TrioAdapter}
    return kinds[adapter]()


def rss_kib(field: str) -> int:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident set size, in KiB.

    VmHWM belongs to the process image: unlike ``getrusage().ru_maxrss``, it does not
    start from the RSS of the parent that forked this process.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def serve_asynchat(
    stats: ServerStats, announce: Callable[[int, Callable[[], None]], None], stop: threading.Event
) -> None:
    from asyncframe.adapters import asynchat
    from benchmarks._support import Listener, asyncore

    chat_map: dict[int, Any] = {}

    class Echo(asynchat.async_chat):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock, map=chat_map)
            self.set_terminator(b"\n")
            stats.accepted += 1

        def collect_incoming_data(self, data: bytes) -> None:
            stats.bytes_in += len(data)
            stats.bytes_out += len(data)
            self.push(data)

        def found_terminator(self) -> None:
            stats.bytes_in += 1
            stats.bytes_out += 1
            self.push(b"\n")

        def handle_error(self) -> None:
            exc = sys.exc_info()[1]
            stats.errors += 1
            if len(stats.first_errors) < 5:
                stats.first_errors.append(repr(exc))
            self.close()

        def close(self) -> None:
            if self.socket is not None and getattr(self, "_fileno", None) is not None:
                stats.closed += 1
            super().close()

    listener = Listener(("127.0.0.1", 0), chat_map, Echo, backlog=4096)
    announce(listener.address[1], lambda: None)
    # poll(), not select(): more than 1,024 descriptors are open at once.
    while not stop.is_set():
        asyncore.loop(timeout=0.05, map=chat_map, use_poll=True, count=1)
    asyncore.close_all(chat_map)


# -- the clients (this process) ------------------------------------------------------------


class Client:
    """One client connection driven by :class:`Driver`; subclasses say what it does."""

    checked = True  # whether every byte it sends must come back

    def __init__(self, driver: Driver, payload: bytes, deadline: float) -> None:
        self.driver = driver
        self.payload = payload
        self.deadline = deadline
        self.sent = 0
        self.received = 0
        self.ok = True
        self.done = False
        self.reason = ""
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect_ex(("127.0.0.1", driver.port))
        driver.add(self, selectors.EVENT_WRITE | selectors.EVENT_READ)

    def next_piece(self) -> int:
        """How many bytes to offer to the next send()."""
        return random.randint(1, 300)

    def writable(self) -> None:
        if self.sent < len(self.payload):
            piece = self.payload[self.sent : self.sent + self.next_piece()]
            try:
                n = self.sock.send(piece)
            except BlockingIOError:
                return
            self.sent += n
            self.driver.bytes_sent += n
        if self.sent >= len(self.payload):
            self.finished_sending()

    def finished_sending(self) -> None:
        self.driver.modify(self, selectors.EVENT_READ)

    def readable(self) -> None:
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        if not data:
            self.at_eof()
            return
        self.driver.bytes_received += len(data)
        if self.payload[self.received : self.received + len(data)] != data:
            self.fail("echo differs from what was sent")
        self.received += len(data)
        if self.received == len(self.payload):
            self.complete()

    def complete(self) -> None:
        self.finish()

    def at_eof(self) -> None:
        if self.received < len(self.payload):
            self.fail(f"closed after {self.received} of {len(self.payload)} bytes")
        self.finish()

    def expire(self) -> None:
        """The deadline passed."""
        self.fail("deadline passed")
        self.finish()

    def fail(self, reason: str) -> None:
        if self.ok:
            self.ok = False
            self.reason = reason

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self.driver.remove(self)
            self.sock.close()


class Echoing(Client):
    """Sends lines in pieces of random sizes, checks every echoed byte, closes."""


class OneByte(Client):
    """Sends one byte per send() call."""

    def next_piece(self) -> int:
        return 1


class TinyFlood(Client):
    """Thousands of 1-3 byte writes."""

    def next_piece(self) -> int:
        return random.randint(1, 3)


class HalfClose(Client):
    """Sends lines and an unterminated tail, then shuts down its sending side."""

    def finished_sending(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)
        super().finished_sending()

    def complete(self) -> None:
        pass  # everything is back: now the server must close


class Reset(Client):
    """Sends part of a line, then resets the connection (SO_LINGER 0)."""

    checked = False

    def finished_sending(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.finish()


class NeverRead(Client):
    """Sends megabytes without ever reading, for a while, then resets."""

    checked = False

    def __init__(self, driver: Driver, payload: bytes, deadline: float) -> None:
        super().__init__(driver, payload, min(deadline, time.monotonic() + 3.0))
        driver.modify(self, selectors.EVENT_WRITE)

    def next_piece(self) -> int:
        return 65536

    def readable(self) -> None:  # never reads
        pass

    def expire(self) -> None:
        self.finished_sending()  # it has pushed for long enough: reset

    def finished_sending(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.finish()


@dataclass(frozen=True)
class Outcome:
    """What became of one client (kept instead of the client and its payload)."""

    kind: str
    checked: bool
    ok: bool
    expected: int
    received: int
    reason: str


class Driver:
    """A selectors loop over many client connections, with per-client deadlines."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.clients: set[Client] = set()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.results: list[Outcome] = []

    def add(self, client: Client, events: int) -> None:
        self.clients.add(client)
        self.sel.register(client.sock, events, client)

    def modify(self, client: Client, events: int) -> None:
        self.sel.modify(client.sock, events, client)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        self.sel.unregister(client.sock)
        self.results.append(
            Outcome(type(client).__name__, client.checked, client.ok, len(client.payload),
                    client.received, client.reason)
        )  # fmt: skip
        client.payload = b""

    def step(self, timeout: float = 0.05) -> None:
        for key, mask in self.sel.select(timeout):
            client: Client = key.data
            try:
                if mask & selectors.EVENT_READ and not client.done:
                    client.readable()
                if mask & selectors.EVENT_WRITE and not client.done:
                    client.writable()
            except OSError as exc:
                if client.checked:
                    client.fail(f"{type(exc).__name__}: {exc}")
                client.finish()
        now = time.monotonic()
        for client in [c for c in self.clients if c.deadline < now]:
            client.expire()

    def run_until_idle(self, limit: float) -> None:
        end = time.monotonic() + limit
        while self.clients and time.monotonic() < end:
            self.step()


def lines(tag: str, count: int) -> bytes:
    """*count* distinct lines naming *tag*."""
    return b"".join(b"%s line %04d %s\n" % (tag.encode(), i, b"x" * (i % 17)) for i in range(count))


def start_fault(driver: Driver, kind: str, tag: str, deadline: float) -> bool:
    """Start one faulty client of *kind*; return False if enough of that kind are live."""
    live = Counter(type(c).__name__ for c in driver.clients)
    if kind == "reset":
        Reset(driver, lines(tag, random.randint(0, 5)) + b"partial line, no end", deadline)
    elif kind == "half-close":
        HalfClose(driver, lines(tag, random.randint(0, 5)) + b"unterminated tail", deadline)
    elif kind == "one-byte":
        OneByte(driver, lines(tag, 3), deadline)
    elif kind == "never-read" and live["NeverRead"] < 2:
        NeverRead(driver, lines(tag, 1) * 80_000, deadline)  # about 2 MB
    elif kind == "tiny-flood" and live["TinyFlood"] < 10:
        TinyFlood(driver, lines(tag, 300), deadline)
    else:
        return False
    return True


def drive(
    port: int, clients: int, soak: float, concurrency: int, faults: tuple[str, ...] = FAULTS
) -> dict[str, Any]:
    """Run the load and soak phases against the server on *port*; return the figures."""
    raise_fd_limit()
    rng_seed = 20261125
    random.seed(rng_seed)
    report: dict[str, Any] = {"seed": rng_seed}

    # Phase 1: every client connected before any has finished.
    driver = Driver(port)
    start = time.monotonic()
    for c in range(clients):
        Echoing(driver, lines(f"load{c:05d}", 20), start + 120)
    driver.run_until_idle(150)
    load = driver.results
    report["load"] = {
        "clients": clients,
        "exact": sum(c.ok and c.received == c.expected for c in load),
        "failed": sum(not c.ok for c in load),
        "lost": sum(c.expected - c.received for c in load),
        "seconds": time.monotonic() - start,
        "sent": driver.bytes_sent,
        "received": driver.bytes_received,
    }

    # Phase 2: churn with faults.
    driver = Driver(port)
    start = time.monotonic()
    end = start + soak
    kinds: Counter[str] = Counter()
    serial = 0
    next_fault = start
    fault_cycle = 0
    while time.monotonic() < end:
        well = sum(type(c) is Echoing for c in driver.clients)
        for _ in range(concurrency - well):
            serial += 1
            Echoing(driver, lines(f"soak{serial:07d}", random.randint(1, 50)),
                    time.monotonic() + 60)  # fmt: skip
            kinds["well-behaved"] += 1
        now = time.monotonic()
        if faults and now >= next_fault:
            next_fault = now + 0.05
            kind = faults[fault_cycle % len(faults)]
            fault_cycle += 1
            serial += 1
            if start_fault(driver, kind, f"{kind}{serial:07d}", now + 60):
                kinds[kind] += 1
        driver.step(0.01)
    driver.run_until_idle(90)
    checked = [c for c in driver.results if c.checked]
    failures = [c for c in checked if not c.ok]
    report["soak"] = {
        "seconds": time.monotonic() - start,
        "clients": dict(kinds),
        "checked": len(checked),
        "exact": sum(c.ok and c.received == c.expected for c in checked),
        "failed": len(failures),
        "first_failures": [f"{c.kind}: {c.reason}" for c in failures[:5]],
        "lost": sum(c.expected - c.received for c in checked),
        "unfinished": len(driver.clients),
        "sent": driver.bytes_sent,
        "received": driver.bytes_received,
    }
    return report


# -- the report ----------------------------------------------------------------------------


def run_adapter(
    adapter: str, clients: int, soak: float, concurrency: int, faults: tuple[str, ...] = FAULTS
) -> dict[str, Any]:
    """Start the server for *adapter* in a child process, drive it, collect both reports."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.reliability", "--serve", adapter],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    timer = threading.Timer(soak + 600, child.kill)  # never hang, whatever happens
    timer.start()
    try:
        line = child.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"{adapter} server did not start: {line!r}")
        report = drive(int(line.split()[1]), clients, soak, concurrency, faults)
        child.stdin.close()
        report["server"] = json.loads(child.stdout.readline())
        child.wait(60)
    finally:
        timer.cancel()
        if child.poll() is None:
            child.kill()
    return report


def mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def print_report(adapter: str, r: dict[str, Any]) -> None:
    load, soak, server = r["load"], r["soak"], r["server"]
    peak = server["peak_rss_kib"] / 1024
    end = server["end_rss_kib"] / 1024
    faults = ", ".join(f"{soak['clients'].get(k, 0)} {k}" for k in FAULTS)
    print(f"== {adapter}")
    print(f"load   {load['clients']} clients connected at once, 20 lines each:"
          f" {load['exact']} exact, {load['failed']} failed, {load['lost']} bytes lost,"
          f" {load['seconds']:.1f} s")  # fmt: skip
    print(f"soak   {soak['seconds']:.1f} s: {soak['clients'].get('well-behaved', 0)} well-behaved"
          f" clients + faults ({faults})")  # fmt: skip
    print(f"       {soak['checked']} clients checked byte for byte: {soak['exact']} exact,"
          f" {soak['failed']} failed, {soak['lost']} bytes lost,"
          f" {soak['unfinished']} unfinished")  # fmt: skip
    for failure in soak["first_failures"]:
        print(f"       failure: {failure}")
    print(f"server {server['accepted']} connections served ({server['closed']} closed),"
          f" {mib(server['bytes_in'])} in, {mib(server['bytes_out'])} out,"
          f" {server['errors']} errors logged,"
          f" peak RSS {peak:.1f} MiB ({end:.1f} MiB at the end)")  # fmt: skip
    for message in server["first_errors"]:
        print(f"       error: {message}")
    print(f"client {mib(load['sent'] + soak['sent'])} sent,"
          f" {mib(load['received'] + soak['received'])} received")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10000, help="concurrent clients in the load")
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of churn with faults")
    parser.add_argument(
        "--concurrency", type=int, default=150, help="well-behaved clients in the soak"
    )
    parser.add_argument("--adapters", default=",".join(ADAPTERS), help="comma-separated")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help="comma-separated faults to inject (or none)"
    )
    parser.add_argument(
        "--attacks", choices=(*SIZES, "none"), default="full", help="attack sizes (or none)"
    )
    parser.add_argument(
        "--memory-runs", type=int, default=5, help="runs of the memory-per-connection measure"
    )
    parser.add_argument("--serve", choices=ADAPTERS, help=argparse.SUPPRESS)
    parser.add_argument("--attack-server", choices=ADAPTERS[:3], help=argparse.SUPPRESS)
    parser.add_argument("--nofile", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--idle-timeout", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tls-handshake-timeout", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batches", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack_server:
        serve_attacks(
            args.attack_server,
            args.nofile,
            args.idle_timeout,
            args.tls_handshake_timeout,
            batches=args.batches,
        )
        return 0
    if args.serve:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops us via stdin
        serve(args.serve)
        return 0
    raise_fd_limit()
    adapters = [a.strip() for a in args.adapters.split(",") if a.strip()]
    unknown = set(adapters) - set(ADAPTERS)
    if unknown:
        parser.error(f"--adapters: unknown {', '.join(sorted(unknown))}")
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip() not in ("", "none"))
    if set(faults) - set(FAULTS):
        parser.error(f"--faults: unknown {', '.join(sorted(set(faults) - set(FAULTS)))}")
    reports = {}
    for adapter in adapters:
        report = run_adapter(adapter, args.clients, args.soak, args.concurrency, faults)
        reports[adapter] = report
        print_report(adapter, report)
        print(flush=True)
    header = ("adapter", "served", "checked", "lost", "failed", "errors", "peak RSS")
    rows = [header]
    bad = False
    for adapter, r in reports.items():
        lost = r["load"]["lost"] + r["soak"]["lost"]
        failed = r["load"]["failed"] + r["soak"]["failed"] + r["soak"]["unfinished"]
        bad = bad or lost > 0 or failed > 0
        server = r["server"]
        checked = r["load"]["clients"] + r["soak"]["checked"]
        peak = f"{server['peak_rss_kib'] / 1024:.1f} MiB"
        rows.append((adapter, str(server["accepted"]), str(checked), str(lost), str(failed),
                     str(server["errors"]), peak))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if args.attacks != "none":
        for adapter in adapters:
            if adapter == "asynchat":
                continue  # the drop-in runs no Handler; the attacks target the Handler adapters
            print()
            attacked = attack_adapter(adapter, SIZES[args.attacks], args.memory_runs)
            bad = print_attacks(adapter, attacked) or bad
    print("verdict:", "bytes lost or clients failed" if bad else "0 bytes lost, every check exact")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
