"""Client-side helpers shared by the adapter tests: plain blocking sockets with timeouts."""

from __future__ import annotations

import socket
import struct
import time

TIMEOUT = 20.0


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_until_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a reset, not an orderly EOF."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for(predicate: object, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def awkward_pieces(data: bytes, seed: int) -> list[bytes]:
    """Cut *data* into pieces of 1..7 bytes, deterministically."""
    pieces, pos, step = [], 0, seed
    while pos < len(data):
        step = step * 1103515245 + 12345
        size = 1 + (step >> 16) % 7
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces
