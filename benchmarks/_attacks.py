"""The attacks of the reliability run: peers that try to exhaust a server's memory, CPU or
descriptors, each against a Handler server in a child process of its own.

The server (``python -m benchmarks.reliability --attack-server ADAPTER``) runs a
whole-frame Handler with asyncframe's defaults (``max_frame_size`` 64 KiB) on one of
the adapters of :mod:`asyncframe.testing`: ``ECHO <text>`` → ``<text>``, ``BIG <n>`` →
``n`` fresh bytes, ``FEED`` → an endless producer. Each line of its stdin asks for a
JSON snapshot (CPU seconds, RSS, connections, live handlers, log records); a line
``trim`` first hands the C allocator's free memory back to the system; EOF stops it.

Every wait below is bounded in time; every load is bounded in count.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import resource
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from benchmarks._support import REPO_ROOT, raise_fd_limit

__all__ = [
    "SIZES",
    "STORM_TARGET_MIB",
    "growing_batch",
    "AttackServer",
    "AttackSizes",
    "attack_adapter",
    "memory_per_connection",
    "reset_storm",
    "serve_attacks",
]


@dataclass(frozen=True)
class AttackSizes:
    """How hard each attack pushes."""

    endless_line_clients: int = 4
    endless_line_bytes: int = 256 << 20  # each client gives up after this many bytes
    never_readers: int = 10
    never_reader_requests: int = 512  # in one write, each answered with 1 MiB
    leaving_peers: int = 20
    nofile: int = 256
    fd_burst: int = 600
    fd_window: float = 2.0  # seconds of CPU measured while out of descriptors
    idle_peers: int = 5000
    idle_timeout: float = 2.0
    idle_window: float = 8.0
    memory_connections: int = 2000
    silent_tls_peers: int = 2000
    tls_handshake_timeout: float = 2.0
    storm_peers: int = 2000  # each asks for 1 MiB, reads 16 KiB and resets


SIZES = {
    "full": AttackSizes(),
    "small": AttackSizes(
        endless_line_clients=2,
        endless_line_bytes=8 << 20,
        never_readers=2,
        never_reader_requests=64,
        leaving_peers=3,
        nofile=64,
        fd_burst=100,
        fd_window=0.5,
        idle_peers=100,
        idle_timeout=0.3,
        idle_window=1.2,
        memory_connections=100,
        silent_tls_peers=50,
        tls_handshake_timeout=0.5,
        storm_peers=200,
    ),
}


# -- the server process ------------------------------------------------------------------


class _Count(logging.Handler):
    """Counts the log records of level WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def serve_attacks(
    adapter: str,
    nofile: int | None,
    idle_timeout: float | None,
    tls_handshake_timeout: float | None = None,
    *,
    batches: bool = False,
) -> None:
    """Run the attack server on *adapter* until stdin closes (see the module docstring);
    with *tls_handshake_timeout*, over TLS (a trustme certificate) with that bound; with
    *batches*, its Handler takes the frames a batch at a time (``on_frames``)."""
    from asyncframe import Handler
    from benchmarks.reliability import server_adapter

    # Opened once: a server out of descriptors must still report.
    status = open("/proc/self/status", encoding="ascii")  # noqa: SIM115
    if nofile:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
    else:
        raise_fd_limit()
    logs = _Count()
    logging.getLogger().addHandler(logs)
    counts = {"accepted": 0, "closed": 0, "peak_output": 0}
    # Every handler made, weakly: those still alive after their connection closed
    # are retained memory, whatever the RSS says.
    live: weakref.WeakSet[Handler] = weakref.WeakSet()

    def endless() -> Iterator[bytes]:
        piece = b"f" * 65536
        while True:
            yield piece

    class Attacked(Handler):
        def __init__(self) -> None:
            super().__init__(terminator=b"\n")
            live.add(self)

        def on_connect(self) -> None:
            counts["accepted"] += 1

        def on_frame(self, frame: bytes) -> None:
            cmd, _, arg = frame.partition(b" ")
            if cmd == b"ECHO":
                self.push(arg + b"\n")
            elif cmd == b"BIG":
                self.push(b"x" * int(arg))
            elif cmd == b"FEED":
                self.push_with_producer(endless())
            queued = self.buffered_output
            if queued > counts["peak_output"]:
                counts["peak_output"] = queued

        def on_close(self) -> None:
            counts["closed"] += 1

    class Batched(Attacked):
        def on_frames(self, frames: list[bytes]) -> None:
            for frame in frames:
                self.on_frame(frame)

    options: dict[str, Any] = {"backlog": 4096}
    if idle_timeout is not None:
        options["idle_timeout"] = idle_timeout
    if tls_handshake_timeout is not None:
        import ssl

        import trustme

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
        options["ssl"] = context
        options["tls_handshake_timeout"] = tls_handshake_timeout
    under_test = server_adapter(adapter)
    _, port = under_test.start(Batched if batches else Attacked, **options)
    print(f"PORT {port}", flush=True)
    for line in sys.stdin:
        if line.strip() == "trim":
            _malloc_trim()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        snapshot = {
            **counts,
            "live_handlers": len(live),
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss_kib": _status_kib(status, "VmRSS"),
            "peak_rss_kib": _status_kib(status, "VmHWM"),
            "log_records": logs.count,
        }
        print(json.dumps(snapshot), flush=True)
    under_test.stop()
    status.close()


def _malloc_trim() -> None:
    """Have glibc's allocator return its free heap pages to the system, if it can."""
    # glibc keeps memory that was freed in its arenas (a burst of connections on
    # several threads leaves several arenas holding pages): the RSS stays up although
    # nothing holds that memory. malloc_trim(0) releases it; other C libraries lack
    # the call, and their RSS is reported as it is.
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def _status_kib(status: IO[str], field: str) -> int:
    status.seek(0)
    for line in status.read().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


class AttackServer:
    """The attack server in a child process, and its snapshots."""

    def __init__(
        self,
        adapter: str,
        *,
        nofile: int | None = None,
        idle_timeout: float | None = None,
        tls_handshake_timeout: float | None = None,
        batches: bool = False,
    ) -> None:
        command = [sys.executable, "-m", "benchmarks.reliability", "--attack-server", adapter]
        if batches:
            command.append("--batches")
        if nofile:
            command += ["--nofile", str(nofile)]
        if idle_timeout is not None:
            command += ["--idle-timeout", str(idle_timeout)]
        if tls_handshake_timeout is not None:
            command += ["--tls-handshake-timeout", str(tls_handshake_timeout)]
        self.child = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        self.stdin, self.stdout = self.child.stdin, self.child.stdout
        self.killer = threading.Timer(600, self.child.kill)  # never hang, whatever happens
        self.killer.start()
        line = self.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"{adapter} attack server did not start: {line!r}")
        self.port = int(line.split()[1])

    def snapshot(self, *, trim: bool = False) -> dict[str, Any]:
        """The server's counters now; with *trim*, its RSS once the C allocator has
        returned its free memory to the system."""
        self.stdin.write("trim\n" if trim else "\n")
        self.stdin.flush()
        report: dict[str, Any] = json.loads(self.stdout.readline())
        return report

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], limit: float, *, trim: bool = False
    ) -> dict[str, Any]:
        """Poll snapshots (trimmed with *trim*) until *predicate* holds or *limit* seconds
        pass; return the last."""
        end = time.monotonic() + limit
        while True:
            snap = self.snapshot(trim=trim)
            if predicate(snap) or time.monotonic() > end:
                return snap
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the server and wait for it."""
        try:
            self.stdin.close()
            self.child.wait(60)
        finally:
            self.killer.cancel()
            if self.child.poll() is None:
                self.child.kill()
                self.child.wait(60)
            self.stdout.close()


# -- the attacks (this process) ------------------------------------------------------------


def _connect(port: int, rcvbuf: int | None = None, timeout: float = 30.0) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def echo_probe(port: int, tag: str) -> int:
    """Send 50 lines and check the echo; return the bytes that did not come back exactly."""
    payloads = [b"%s %03d" % (tag.encode(), i) for i in range(50)]
    expected = b"".join(p + b"\n" for p in payloads)
    got = bytearray()
    try:
        with _connect(port, timeout=20.0) as sock:
            sock.sendall(b"".join(b"ECHO " + p + b"\n" for p in payloads))
            while len(got) < len(expected):
                piece = sock.recv(65536)
                if not piece:
                    break
                got += piece
    except OSError:
        pass
    if bytes(got) == expected:
        return 0
    return len(expected) - sum(a == b for a, b in zip(got, expected, strict=False))


def _threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def endless_line(server: AttackServer, sizes: AttackSizes) -> dict[str, Any]:
    """Clients send one line that never ends; the server must close each of them."""
    closed = [False] * sizes.endless_line_clients
    piece = b"x" * 65536

    def attacker(i: int) -> None:
        sent = 0
        try:
            with _connect(server.port, timeout=10.0) as sock:
                while sent < sizes.endless_line_bytes:
                    sent += sock.send(piece)
        except OSError:  # reset or timeout: the server closed, or stopped reading for good
            closed[i] = True

    _threads(attacker, sizes.endless_line_clients)
    return {"closed": sum(closed), "of": sizes.endless_line_clients}


def never_reader(server: AttackServer, sizes: AttackSizes) -> dict[str, Any]:
    """Clients send many 1 MiB requests in one write and never read the replies."""
    before = server.snapshot()
    socks = [_connect(server.port, rcvbuf=65536) for _ in range(sizes.never_readers)]
    for sock in socks:
        sock.sendall(b"BIG 1048576\n" * sizes.never_reader_requests)
    last = {"rss": -1, "since": time.monotonic()}

    def settled(snap: dict[str, Any]) -> bool:
        # Settled once RSS has not grown by 1 MiB for a second.
        if snap["rss_kib"] > last["rss"] + 1024:
            last["rss"], last["since"] = snap["rss_kib"], time.monotonic()
        return time.monotonic() - last["since"] > 1.0

    snap = server.wait(settled, 30)
    for sock in socks:
        sock.close()
    queued = sizes.never_readers * sizes.never_reader_requests
    return {
        "requests": queued,
        "rss_growth_mib": (snap["rss_kib"] - before["rss_kib"]) / 1024,
        "unbounded_mib": queued,
    }


def leaving_peers(server: AttackServer, sizes: AttackSizes) -> dict[str, Any]:
    """Clients ask for an endless feed, read 1 MiB and leave; the server must close
    each connection and go on serving, without flooding its log."""
    # Earlier attackers' connections first finish closing, so that only these count.
    before = server.wait(lambda s: s["closed"] >= s["accepted"], 20)
    for _ in range(sizes.leaving_peers):
        with _connect(server.port) as sock:
            sock.sendall(b"FEED\n")
            got = 0
            while got < 1 << 20:
                piece = sock.recv(65536)
                if not piece:
                    break
                got += len(piece)
    want = before["closed"] + sizes.leaving_peers
    snap = server.wait(lambda s: s["closed"] >= want, 20)
    lost = echo_probe(server.port, "after-feed")
    return {
        "closed": snap["closed"] - before["closed"],
        "of": sizes.leaving_peers,
        "log_records": snap["log_records"] - before["log_records"],
        "lost": lost,
    }


#: How far the server's RSS may stay above its level before a reset storm, in MiB.
STORM_TARGET_MIB = 16.0


def _storm_wave(port: int, peers: int) -> None:
    """*peers* connections at once: each asks for 1 MiB, then each reads 16 KiB of its
    reply, then every one resets."""
    socks = []
    for _ in range(peers):
        with contextlib.suppress(OSError):
            sock = _connect(port)
            sock.sendall(b"BIG 1048576\n")
            socks.append(sock)
    for sock in socks:
        got = 0
        with contextlib.suppress(OSError):
            while got < 16384:
                piece = sock.recv(16384 - got)
                if not piece:
                    break
                got += len(piece)
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def reset_storm(server: AttackServer, peers: int, wave: int = 50) -> dict[str, Any]:
    """*peers* peers, *wave* connected at a time, each ask for a 1 MiB reply, read 16 KiB
    of it and reset: once every connection is closed, the server's memory must be back
    where it was, with the process's ``gc`` as it is (a closed connection is freed by
    reference counting, not when the cyclic collector next runs)."""
    _storm_wave(server.port, wave)  # the allocator's pools primed before the baseline
    before = server.wait(lambda s: s["closed"] >= s["accepted"], 20, trim=True)
    for start in range(0, peers, wave):
        _storm_wave(server.port, min(wave, peers - start))
    want = before["accepted"] + peers
    after = server.wait(lambda s: s["accepted"] >= want and s["closed"] >= s["accepted"], 60)
    # The RSS right after the storm counts what glibc's allocator keeps of the freed
    # replies (a 1 MiB reply freed raises its mmap threshold, so the next ones come
    # from the heap, whose freed pages it keeps), which varies with the Python
    # version and the adapter's threads: on Python 3.10 with trio it is some 50 MiB
    # above the baseline with no handler alive. So the verdict is on what is still
    # held: the handlers alive (none may be) and the RSS once the allocator has
    # handed its free memory back, against the same measure before the storm.
    # A handler may outlive its on_close for as long as the adapter finishes with its
    # connection: waited for, within a bound.
    trimmed = server.wait(lambda s: s["live_handlers"] == 0, 10, trim=True)
    lost = echo_probe(server.port, "after-storm")
    return {
        "peers": peers,
        "wave": wave,
        "closed": after["closed"] - before["closed"],
        "live_handlers": trimmed["live_handlers"],
        "rss_before_mib": before["rss_kib"] / 1024,
        "rss_growth_mib": (after["rss_kib"] - before["rss_kib"]) / 1024,
        "trimmed_growth_mib": (trimmed["rss_kib"] - before["rss_kib"]) / 1024,
        "peak_growth_mib": (after["peak_rss_kib"] - before["rss_kib"]) / 1024,
        "lost": lost,
    }


#: The attack server's high_water (asyncframe's default) and its largest reply.
HIGH_WATER = 1 << 20
REPLY = 1 << 20


def growing_batch(adapter: str) -> dict[str, Any]:
    """One peer that does not read sends 1,000 small requests, then 1,000 requests for
    1 MiB replies, in one write, to an ``on_frames`` server: the small replies let the
    batches grow, and the big ones must still stop at the output bound (the most
    output ever queued: at most ``high_water`` plus one reply)."""
    server = AttackServer(adapter, batches=True)
    try:
        before = server.snapshot()
        with _connect(server.port, rcvbuf=65536) as sock:
            sock.sendall(b"ECHO s\n" * 1000 + b"BIG %d\n" % REPLY * 1000)
            last = {"peak": -1, "since": time.monotonic()}

            def settled(snap: dict[str, Any]) -> bool:
                if snap["peak_output"] != last["peak"]:
                    last["peak"], last["since"] = snap["peak_output"], time.monotonic()
                return snap["peak_output"] > 0 and time.monotonic() - last["since"] > 1.0

            snap = server.wait(settled, 30)
    finally:
        server.close()
    return {
        "peak_output": snap["peak_output"],
        "bound": HIGH_WATER + REPLY,
        "rss_growth_mib": (snap["rss_kib"] - before["rss_kib"]) / 1024,
        "unbounded_mib": 1000 * REPLY >> 20,
    }


def fd_exhaustion(adapter: str, sizes: AttackSizes) -> dict[str, Any]:
    """A server limited to *nofile* descriptors meets a burst of connects: its CPU while
    out of descriptors, its log records, and whether it serves again afterwards."""
    server = AttackServer(adapter, nofile=sizes.nofile)
    try:
        socks: list[socket.socket] = []
        for _ in range(sizes.fd_burst):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            socks.append(sock)
        server.wait(lambda s: s["accepted"] >= sizes.nofile - 40, 10)  # most descriptors gone
        start, t0 = server.snapshot(), time.monotonic()
        in_burst = start["accepted"]
        time.sleep(sizes.fd_window)  # the measurement window
        end, t1 = server.snapshot(), time.monotonic()
        for sock in socks:
            sock.close()
        server.wait(lambda s: s["closed"] >= s["accepted"], 30)
        lost = echo_probe(server.port, "after-burst")
        final = server.snapshot()
    finally:
        server.close()
    return {
        "cpu_percent": 100 * (end["cpu"] - start["cpu"]) / (t1 - t0),
        "log_records_per_s": (end["log_records"] - start["log_records"]) / (t1 - t0),
        "accepted": final["accepted"],
        "accepted_in_burst": in_burst,
        "burst": sizes.fd_burst,
        "nofile": sizes.nofile,
        "lost": lost,
        "peak_rss_kib": final["peak_rss_kib"],
    }


def idle_peers(adapter: str, sizes: AttackSizes) -> dict[str, Any]:
    """Many idle peers, 10 % of them slowloris (one byte per half idle timeout), against
    a server with an idle timeout: how many of each it closed within the window."""
    server = AttackServer(adapter, idle_timeout=sizes.idle_timeout)
    try:
        socks = [_connect(server.port) for _ in range(sizes.idle_peers)]
        slow = set(range(0, sizes.idle_peers, 10))
        end = time.monotonic() + sizes.idle_window
        while time.monotonic() < end:
            for i in slow:
                with contextlib.suppress(OSError):
                    socks[i].send(b"E")
            time.sleep(sizes.idle_timeout / 2)  # the slowloris pace
        closed_idle = closed_slow = 0
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            try:
                gone = sock.recv(1) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                closed_slow += i in slow
                closed_idle += i not in slow
            sock.close()
        lost = echo_probe(server.port, "after-idle")
        final = server.snapshot()
    finally:
        server.close()
    return {
        "idle_closed": closed_idle,
        "idle": sizes.idle_peers - len(slow),
        "slow_closed": closed_slow,
        "slow": len(slow),
        "lost": lost,
        "accepted": final["accepted"],
        "peak_rss_kib": final["peak_rss_kib"],
    }


def silent_tls_peers(adapter: str, sizes: AttackSizes) -> dict[str, Any]:
    """Peers that open TCP to a TLS listener and send nothing: how many the server
    closed within ``tls_handshake_timeout`` plus a second of their connect, the
    slowest close, and the server's RSS per pending handshake (its peak RSS over
    the one before the attack, per peer)."""
    timeout = sizes.tls_handshake_timeout
    server = AttackServer(adapter, tls_handshake_timeout=timeout)
    socks: list[socket.socket] = []
    try:
        base = server.snapshot()["rss_kib"]
        opened: dict[int, float] = {}
        for _ in range(sizes.silent_tls_peers):
            sock = _connect(server.port)
            opened[sock.fileno()] = time.monotonic()
            socks.append(sock)
        closed: dict[int, float] = {}
        with selectors.DefaultSelector() as selector:
            for sock in socks:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout + 30
            while len(closed) < len(socks) and time.monotonic() < deadline:
                for key, _ in selector.select(0.5):
                    fd = key.fd
                    try:
                        gone = key.fileobj.recv(1) == b""  # type: ignore[union-attr]
                    except BlockingIOError:
                        continue
                    except OSError:
                        gone = True
                    if gone:
                        closed[fd] = time.monotonic() - opened[fd]
                        selector.unregister(key.fileobj)
        final = server.snapshot()
    finally:
        for sock in socks:
            sock.close()
        server.close()
    return {
        "of": sizes.silent_tls_peers,
        "timeout": timeout,
        "closed_in_time": sum(t <= timeout + 1.0 for t in closed.values()),
        "slowest_s": max(closed.values(), default=float("nan")),
        # The peak is while every handshake is pending: the server does nothing else.
        "kib_per_pending": (final["peak_rss_kib"] - base) / sizes.silent_tls_peers,
        "handlers_made": final["accepted"],
        "peak_rss_kib": final["peak_rss_kib"],
    }


def memory_per_connection(adapter: str, connections: int) -> float:
    """RSS delta of the server per idle connection, in KiB, over *connections* of them.

    Each connection exchanges one line first, so that it is accepted and set up.
    """
    server = AttackServer(adapter)
    try:
        warm = [_connect(server.port) for _ in range(20)]
        for sock in warm:
            sock.sendall(b"ECHO w\n")
            sock.recv(16)
        base = server.wait(lambda s: s["accepted"] >= 20, 10)
        socks = []
        for _ in range(connections):
            sock = _connect(server.port)
            sock.sendall(b"ECHO m\n")
            socks.append(sock)
        for sock in socks:
            sock.recv(16)
        snap = server.wait(lambda s: s["accepted"] >= 20 + connections, 30)
        for sock in socks + warm:
            sock.close()
    finally:
        server.close()
    return float(snap["rss_kib"] - base["rss_kib"]) / connections


def attack_adapter(adapter: str, sizes: AttackSizes, memory_runs: int) -> dict[str, Any]:
    """Run every attack on *adapter*; return the figures."""
    raise_fd_limit()
    server = AttackServer(adapter)
    try:
        report: dict[str, Any] = {
            "endless_line": endless_line(server, sizes),
            "never_reader": never_reader(server, sizes),
            "leaving_peers": leaving_peers(server, sizes),
        }
        report["lost"] = report["leaving_peers"]["lost"] + echo_probe(server.port, "after-all")
        final = server.snapshot()
    finally:
        server.close()
    # A server of its own: the never-readers above leave the heap grown for good.
    server = AttackServer(adapter)
    try:
        report["reset_storm"] = reset_storm(server, sizes.storm_peers)
        report["lost"] += report["reset_storm"]["lost"]
        storm_final = server.snapshot()
    finally:
        server.close()
    report["growing_batch"] = growing_batch(adapter)
    report["fd_exhaustion"] = fd_exhaustion(adapter, sizes)
    report["idle_peers"] = idle_peers(adapter, sizes)
    report["silent_tls"] = silent_tls_peers(adapter, sizes)
    report["lost"] += report["fd_exhaustion"]["lost"] + report["idle_peers"]["lost"]
    report["served"] = (
        final["accepted"]
        + storm_final["accepted"]
        + report["fd_exhaustion"]["accepted"]
        + report["idle_peers"]["accepted"]
    )
    report["peak_rss_kib"] = max(
        final["peak_rss_kib"],
        storm_final["peak_rss_kib"],
        report["fd_exhaustion"]["peak_rss_kib"],
        report["idle_peers"]["peak_rss_kib"],
        report["silent_tls"]["peak_rss_kib"],
    )
    report["memory_per_connection_kib"] = [
        memory_per_connection(adapter, sizes.memory_connections) for _ in range(memory_runs)
    ]
    return report


#: The memory per idle connection each adapter must stay within, in KiB.
MEMORY_TARGETS = {"selectors": 3.0, "asyncio": 5.0, "trio": 8.0}


def print_attacks(adapter: str, r: dict[str, Any]) -> bool:
    """Print the attack report of *adapter*; return True if a byte was lost."""
    el, nr, lp, fd, ip = (
        r["endless_line"], r["never_reader"], r["leaving_peers"], r["fd_exhaustion"],
        r["idle_peers"],
    )  # fmt: skip
    per = r["memory_per_connection_kib"]
    target = MEMORY_TARGETS.get(adapter)
    verdict = "" if target is None else (" ok" if max(per) <= target else " MISSED")
    print(f"== {adapter} attacks")
    print(f"endless line     {el['closed']}/{el['of']} attackers closed by the server")
    print(f"never-reader     {nr['requests']} x 1 MiB requested without reading:"
          f" RSS +{nr['rss_growth_mib']:.1f} MiB"
          f" (unbounded would be {nr['unbounded_mib']} MiB)")  # fmt: skip
    print(f"endless producer {lp['closed']}/{lp['of']} leaving peers closed,"
          f" {lp['log_records']} log records")  # fmt: skip
    gb = r["growing_batch"]
    batch_ok = "ok" if gb["peak_output"] <= gb["bound"] else "MISSED"
    print(f"growing batch    1000 small then 1000 x 1 MiB requests in one write, on_frames:"
          f" at most {gb['peak_output'] / (1 << 20):.2f} MiB queued (bound"
          f" {gb['bound'] / (1 << 20):.0f} MiB, unbounded would be {gb['unbounded_mib']} MiB),"
          f" RSS +{gb['rss_growth_mib']:.1f} MiB {batch_ok}")  # fmt: skip
    rs = r["reset_storm"]
    storm_ok = (
        "ok"
        if rs["live_handlers"] == 0 and rs["trimmed_growth_mib"] <= STORM_TARGET_MIB
        else "MISSED"
    )
    print(f"reset storm      {rs['closed']}/{rs['peers']} peers, {rs['wave']} at a time"
          f" (1 MiB asked, 16 KiB read, reset) closed: {rs['live_handlers']} handlers alive,"
          f" RSS {rs['trimmed_growth_mib']:+.1f} MiB once the allocator's free memory is"
          f" returned ({rs['rss_growth_mib']:+.1f} MiB before), peak"
          f" +{rs['peak_growth_mib']:.1f} MiB (target <= {STORM_TARGET_MIB:.0f} MiB)"
          f" {storm_ok}")  # fmt: skip
    print(f"out of fds       limit {fd['nofile']}, burst of {fd['burst']} connects,"
          f" {fd['accepted_in_burst']} accepted: CPU {fd['cpu_percent']:.1f} % while out of"
          f" descriptors, {fd['log_records_per_s']:.1f} log records/s")  # fmt: skip
    print(f"idle timeout     {ip['idle_closed']}/{ip['idle']} idle peers closed,"
          f" {ip['slow_closed']}/{ip['slow']} slowloris peers closed")  # fmt: skip
    st = r["silent_tls"]
    print(f"silent TLS peers {st['closed_in_time']}/{st['of']} closed within"
          f" tls_handshake_timeout {st['timeout']} s + 1 s (slowest {st['slowest_s']:.2f} s),"
          f" {st['kib_per_pending']:.1f} KiB RSS per pending handshake,"
          f" {st['handlers_made']} handlers made")  # fmt: skip
    runs = ", ".join(f"{kib:.2f}" for kib in per)
    print(f"memory/idle conn min {min(per):.2f} KiB, median {statistics.median(per):.2f} KiB"
          f" over {len(per)} runs ({runs}; target <= {target} KiB){verdict}")  # fmt: skip
    print(f"summary          peak RSS {r['peak_rss_kib'] / 1024:.1f} MiB,"
          f" CPU out of fds {fd['cpu_percent']:.1f} %, bytes lost {r['lost']},"
          f" connections served {r['served']}")  # fmt: skip
    return bool(r["lost"])
