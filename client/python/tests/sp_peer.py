"""A hand-driven SP peer for the transport's tests: plain sockets, no libnng.

It listens (TCP on loopback, a Unix socket path or an abstract name), greets
each connection as rep0 (or whatever protocol a test wants it to claim), and
hands every request it reads to the test through a queue. Answering is the
test's job: whole, in any order, cut short, oversize, late, or not at all.
So a test can make the connection fail exactly where it wants, with no
timing involved.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import struct
import tempfile
import threading
from typing import List, Optional

from lsmkv import _proto
from server import _tmp_root

REQ0_GREETING = b"\x00SP\x00\x00\x30\x00\x00"


def greeting(protocol: int) -> bytes:
    return b"\x00SP\x00" + protocol.to_bytes(2, "big") + b"\x00\x00"


def get_answer(value: Optional[bytes]) -> bytes:
    """The response envelope of a Get that found `value` (None: not found)."""
    response = _proto.kv.GetResponse(found=value is not None, value=value or b"")
    return _proto.rpc.RpcResponse(payload=response.SerializeToString()).SerializeToString()


class PeerConnection:
    """One accepted connection; the test sends on it, a thread reads requests."""

    def __init__(self, peer: "SpPeer", sock: socket.socket) -> None:
        self.peer = peer
        self.sock = sock
        self.ipc = sock.family == socket.AF_UNIX
        self.closed = threading.Event()  # the client closed it, or we did
        self.reader: Optional[threading.Thread] = None  # reads its requests
        self._send_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        """Sends raw bytes; a connection the client already dropped is fine."""
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        """Closes it: the client sees the end of stream after what was sent."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.closed.set()

    def reset(self) -> None:
        """Closes it abortively: the client gets a reset, and may lose what
        was sent but not yet read. The reader is woken and joined first:
        closing a socket that another thread is reading closes nothing."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        if self.reader is not None:
            self.reader.join(60)
        self.sock.close()
        self.closed.set()

    def header(self, size: int) -> bytes:
        """The header of a message of `size` bytes (the request ID and the body)."""
        length = struct.pack(">Q", size)
        return b"\x01" + length if self.ipc else length

    def frame(self, request_id: int, body: bytes) -> bytes:
        """A whole message carrying `body` under `request_id`."""
        return self.header(4 + len(body)) + request_id.to_bytes(4, "big") + body


class Request:
    """A request the peer read: its connection, ID and envelope."""

    def __init__(self, conn: PeerConnection, request_id: int, envelope: bytes) -> None:
        self.conn = conn
        self.id = request_id
        self.envelope = _proto.rpc.RpcRequest.FromString(envelope)

    @property
    def key(self) -> bytes:
        """The key of a Get request."""
        return _proto.kv.GetRequest.FromString(self.envelope.payload).key

    def answer_frame(self, value: Optional[bytes]) -> bytes:
        """The whole answer to this Get: found `value`."""
        return self.conn.frame(self.id, get_answer(value))

    def answer(self, value: Optional[bytes]) -> None:
        self.conn.send(self.answer_frame(value))


class SpPeer:
    """Listens on `kind` ("tcp", "tcp6", "ipc" or "abstract") and serves as the test says.

    protocol: what the greeting claims (rep0 by default); raw_greeting
    replaces the greeting altogether (b"" sends none). With hold_requests the
    peer reads nothing after the greeting until release_requests(), so a
    large request fills the socket buffers and cannot be sent whole.
    """

    def __init__(self, kind: str = "tcp", protocol: int = 0x0031,
                 raw_greeting: Optional[bytes] = None, hold_requests: bool = False) -> None:
        self.greeting = greeting(protocol) if raw_greeting is None else raw_greeting
        self.requests: "queue.Queue[Request]" = queue.Queue()
        self.connections: List[PeerConnection] = []  # every one accepted, in order
        self._accepted: "queue.Queue[PeerConnection]" = queue.Queue()
        self.errors: List[str] = []  # what the client did wrong, for the test to check
        self._requests_released = threading.Event()
        if not hold_requests:
            self._requests_released.set()
        self._dir: Optional[str] = None
        self._threads: List[threading.Thread] = []
        self._listener = self._listen(kind)
        self._start(self._accept_loop)

    # ---- set-up --------------------------------------------------------------

    def _listen(self, kind: str) -> socket.socket:
        if kind in ("tcp", "tcp6"):
            family, host = (socket.AF_INET, "127.0.0.1") if kind == "tcp" else (socket.AF_INET6, "::1")
            sock = socket.socket(family, socket.SOCK_STREAM)
            # A small fixed receive buffer (accepted sockets inherit it) keeps
            # what a held request can push into the peer well under 16 MiB.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            self.url = f"tcp://127.0.0.1:{port}" if kind == "tcp" else f"tcp6://[::1]:{port}"
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if kind == "ipc":
                self._dir = tempfile.mkdtemp(prefix="sp-", dir=_tmp_root())
                path = os.path.join(self._dir, "sock")
                sock.bind(path)
                self.url = f"ipc://{path}"
            else:
                name = f"lsmkv-sp-peer-{os.getpid()}-{id(self)}"
                sock.bind("\0" + name)
                self.url = f"abstract://{name}"
        sock.listen(16)
        return sock

    def _start(self, target, *args) -> threading.Thread:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()
        return t

    # ---- serving -------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            conn = PeerConnection(self, sock)
            self.connections.append(conn)
            self._accepted.put(conn)
            conn.reader = self._start(self._serve, conn)

    def _serve(self, conn: PeerConnection) -> None:
        try:
            if self.greeting:
                conn.send(self.greeting)
            theirs = self._recv_exact(conn.sock, 8)
            if theirs != REQ0_GREETING:
                self.errors.append(f"the client's greeting is {theirs!r}")
                return
            self._requests_released.wait()
            header_size = 9 if conn.ipc else 8
            while True:
                header = self._recv_exact(conn.sock, header_size)
                if conn.ipc and header[0] != 1:
                    self.errors.append(f"message type {header[0]} from the client")
                    return
                body = self._recv_exact(conn.sock, int.from_bytes(header[-8:], "big"))
                request_id = int.from_bytes(body[:4], "big")
                if not request_id & 0x80000000:
                    self.errors.append(f"request ID {request_id:#x} without its top bit")
                self.requests.put(Request(conn, request_id, body[4:]))
        except (EOFError, OSError):
            pass  # the client closed it, or we did
        finally:
            conn.closed.set()

    @staticmethod
    def _recv_exact(sock: socket.socket, size: int) -> bytes:
        got = bytearray()
        while len(got) < size:
            chunk = sock.recv(min(size - len(got), 1 << 20))
            if not chunk:
                raise EOFError
            got += chunk
        return bytes(got)

    # ---- for the tests -------------------------------------------------------

    def next_request(self, timeout: float = 30.0) -> Request:
        """The next request read (from any connection), waiting up to `timeout`."""
        return self.requests.get(timeout=timeout)

    def wait_accepted(self, timeout: float = 30.0) -> PeerConnection:
        """Waits for the next connection to be accepted and returns it."""
        try:
            return self._accepted.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the client did not connect") from None

    def release_requests(self) -> None:
        self._requests_released.set()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self._listener.close()
        self._threads[0].join(30)  # the accept loop: no connection comes after it
        for conn in self.connections:
            conn.close()
        self._requests_released.set()
        for t in self._threads[1:]:
            t.join(30)
        for conn in self.connections:
            conn.sock.close()  # a second close (after reset) is harmless
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "SpPeer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
