"""The SP protocol (nng's req0 side) over a plain socket, as the C client speaks it.

Why the client does not use libnng: nng 1.5.2 (Debian 12's) can wedge for
good when a connection dies while an answer is half read. Its TCP transport
resubmits the read on an I/O handle that its close has already stopped, the
read never completes, and nng's single reaper thread waits for it forever:
from then on no connection of the process is torn down or re-dialed again,
and closing the socket hangs. Speaking SP here over Python's ``socket`` keeps
every wait in this process under the call's deadline, and the package needs
nothing from Debian but python3-protobuf.

Why calls take turns at the socket instead of a background reader thread
(the C client's transport.c does the same):

* At one caller, the caller reads its own answer: no thread hand-off on the
  way back. Waking another Python thread to deliver an answer costs tens of
  microseconds (it has to get the GIL), a fair part of a round trip.
* There is no thread of our own to start, join, or leak when a client is
  dropped without close(), and no wait that is not some call's own, bounded
  by that call's deadline.

How the calls share the one connection:

* A call that finds no connection makes one (others wait for it), retrying
  refused attempts with a back-off until its deadline.
* Each request gets its own ID, and answers are matched to their calls by it,
  in whatever order they come; an answer whose call gave up is dropped.
* Sending: a call writes its whole request under the connection's send lock.
  A request is sent at most once; nothing is resent.
* Reading: one waiting call at a time is the reader. It reads every answer
  that arrives and hands each to its call; once its own is in, or its
  deadline passes, it stops and wakes another waiting call to take over. A
  half-read answer stays in the connection's inbox for the next reader.
* A connection that fails (end of stream, a reset, a malformed or oversize
  answer, a request cut short) is broken: every call waiting on it fails at
  once with UNAVAILABLE, and the next call connects again.

The socket is non-blocking once connected, and waits go through poll():
a socket timeout would be shared by the threads sending and reading at once.
"""

from __future__ import annotations

import math
import os
import select
import socket
import struct
import threading
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

from .errors import Error, StatusCode

# The greeting: '\0SP\0', the sender's protocol (req0 = 0x30, rep0 = 0x31), two zero bytes.
_GREETING = b"\x00SP\x00\x00\x30\x00\x00"
_PROTOCOL_REP0 = 0x0031
# Over Unix sockets every message starts with this type byte, then its length.
_IPC_MESSAGE_TYPE = 1
_TCP_HEADER = struct.Struct(">QI")  # body length, request ID
_IPC_HEADER = struct.Struct(">BQI")  # type, body length, request ID
_ID_SIZE = 4
# The top bit of a request ID marks the end of SP's backtrace.
_ID_LAST_HOP = 0x80000000

# Retry a refused connection quickly at first, backing off to half a second.
_RECONNECT_MIN_S = 0.020
_RECONNECT_MAX_S = 0.500
# What one recv asks for: enough for many small answers at once, and large
# answers in a few big steps without reserving their whole size per step.
_RECV_MIN = 64 << 10
_RECV_MAX = 4 << 20
# sun_path is 108 bytes: a path needs its terminating NUL, an abstract name its leading one.
_SUN_PATH_ROOM = 107

_SCHEMES = (
    ("tcp://", socket.AF_UNSPEC),
    ("tcp4://", socket.AF_INET),
    ("tcp6://", socket.AF_INET6),
    ("ipc://", None),
    ("abstract://", None),
)


class _Failure(Exception):
    """Why a connection attempt or a connection failed, for an Error's message."""


def _describe(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def _remaining_ms(deadline: float) -> int:
    """What is left of the deadline, as poll() takes a timeout (at most 2^31 - 1 ms)."""
    left = deadline - time.monotonic()
    return min(max(0, math.ceil(left * 1000)), 0x7FFFFFFF)


def _lock_timeout(deadline: float) -> float:
    """What is left of the deadline, as Lock.acquire takes a timeout."""
    return min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX)


def _cancelled(during_call: bool = False) -> Error:
    if during_call:
        return Error(StatusCode.CANCELLED, "the client was closed during the call")
    return Error(StatusCode.CANCELLED, "the client is closed")


def _shutdown(sock: socket.socket) -> None:
    """Wakes whoever waits on sock (connecting, reading, sending); it fails there."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (yet, or any more): nothing to wake


# ---- where the server is ---------------------------------------------------


class _Address(NamedTuple):
    """A parsed server URL: a TCP host and port, or a Unix socket's address."""

    ipc: bool  # Unix socket framing
    family: int  # TCP: AF_UNSPEC, AF_INET or AF_INET6
    host: str = ""
    port: int = 0
    unix: bytes = b""  # a path, or NUL and an abstract name

    def targets(self) -> List[Tuple[int, object]]:
        """The (family, sockaddr) pairs to try in turn. Raises _Failure."""
        if self.ipc:
            return [(socket.AF_UNIX, self.unix)]
        # getaddrinfo has no timeout; a numeric host, the usual, never waits for it.
        try:
            found = socket.getaddrinfo(self.host, self.port, self.family, socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise _Failure(f"cannot resolve '{self.host}': {_describe(e)}") from None
        return [(family, sockaddr) for family, _, _, _, sockaddr in found]


def _parse_host_port(rest: str) -> Tuple[str, int]:
    """"host:port" or "[v6 address]:port". Raises ValueError saying what is wrong."""
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ValueError("an IPv6 address needs its closing ']'")
        host, after = rest[1:close], rest[close + 1 :]
        if not after.startswith(":"):
            raise ValueError("expected ':port' after the IPv6 address")
        port = after[1:]
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            raise ValueError("no port (expected tcp://host:port)")
    if not host:
        raise ValueError("no host (expected tcp://host:port)")
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    return host, int(port)


def _parse_unix(rest: str, abstract: bool) -> bytes:
    if not rest:
        raise ValueError("no socket path")
    name = os.fsencode(rest)
    if len(name) > _SUN_PATH_ROOM:
        raise ValueError("the socket path is too long for a Unix socket")
    return b"\x00" + name if abstract else name


def _parse_url(url: str) -> _Address:
    """The URL's address, as lsmkv-server's --listen takes it. Raises INVALID_ARGUMENT."""
    why = "unknown scheme (expected tcp://, tcp4://, tcp6://, ipc:// or abstract://)"
    for scheme, family in _SCHEMES:
        if not url.startswith(scheme):
            continue
        rest = url[len(scheme) :]
        try:
            if family is not None:
                host, port = _parse_host_port(rest)
                return _Address(ipc=False, family=family, host=host, port=port)
            return _Address(ipc=True, family=socket.AF_UNIX,
                            unix=_parse_unix(rest, scheme == "abstract://"))
        except ValueError as e:
            why = str(e)
        break
    raise Error(StatusCode.INVALID_ARGUMENT, f"invalid server URL '{url}': {why}")


# ---- one connection attempt --------------------------------------------------


def _set_deadline(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout()
    sock.settimeout(left)


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    got = b""
    while len(got) < size:
        _set_deadline(sock, deadline)
        chunk = sock.recv(size - len(got))
        if not chunk:
            raise _Failure("the greeting failed: the peer closed the connection")
        got += chunk
    return got


def _greet(sock: socket.socket, deadline: float) -> None:
    """Sends our greeting and checks the server's. Raises _Failure."""
    try:
        _set_deadline(sock, deadline)
        sock.sendall(_GREETING)
        theirs = _recv_exact(sock, len(_GREETING), deadline)
    except socket.timeout:
        raise _Failure("connected, but no SP greeting came back") from None
    except OSError as e:
        raise _Failure(f"the greeting failed: {_describe(e)}") from None
    if theirs[:4] != b"\x00SP\x00" or theirs[6:] != b"\x00\x00":
        raise _Failure("the peer does not speak the SP protocol (is it lsmkv-server?)")
    protocol = int.from_bytes(theirs[4:6], "big")
    if protocol != _PROTOCOL_REP0:
        raise _Failure(
            f"the peer speaks SP protocol 0x{protocol:04x}, not rep0 (0x0031) as lsmkv-server"
        )


def _connect(sock: socket.socket, sockaddr: object, deadline: float) -> None:
    """Connects sock and exchanges greetings by the deadline. Raises _Failure."""
    try:
        _set_deadline(sock, deadline)
        sock.connect(sockaddr)
    except socket.timeout:
        raise _Failure("timed out") from None
    except OSError as e:
        raise _Failure(_describe(e)) from None
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as nng does
    _greet(sock, deadline)
    sock.setblocking(False)


# ---- a connection and the calls on it ----------------------------------------------


class _Call:
    """One call sent or being sent, waiting for its answer.

    Its wake-up is a lock held from the start: waking releases it, sleeping
    acquires it. A wake that comes while the call is not asleep is kept for
    its next sleep, so none is lost. Its fields change under the transport's lock.
    """

    __slots__ = ("id", "conn", "done", "answer", "_wake", "_woken")

    def __init__(self, request_id: int, conn: "_Connection") -> None:
        self.id = request_id
        self.conn = conn
        self.done = False  # answered, or failed with its connection
        self.answer: Optional[bytes] = None
        self._wake = threading.Lock()
        self._wake.acquire()
        self._woken = False

    def wake(self) -> None:
        """The caller holds the transport's lock."""
        if not self._woken:
            self._woken = True
            self._wake.release()

    def sleep(self, lock: threading.Lock, deadline: float) -> None:
        """Until woken or the deadline; `lock` (held) is released meanwhile."""
        left = deadline - time.monotonic()
        if left <= 0:
            return
        lock.release()
        try:
            got = self._wake.acquire(timeout=_lock_timeout(deadline))
        finally:
            lock.acquire()
        if self._woken:
            if not got:
                self._wake.acquire(False)  # woken after the timeout: already released
            self._woken = False


class _Connection:
    """One connected socket and the calls waiting on it.

    users, broken, why, reading and waiting change under the transport's
    lock; the inbox and the read poller belong to the reader of the moment,
    the write poller to the holder of send_lock.
    """

    def __init__(self, sock: socket.socket, ipc: bool) -> None:
        self.sock = sock
        self.ipc = ipc
        self.header_size = 9 if ipc else 8
        self.users = 1  # the transport while current, plus each call on it
        self.broken = False
        self.why = ""
        self.reading = False
        self.waiting: Dict[int, _Call] = {}
        self.send_lock = threading.Lock()
        self.inbox = bytearray()  # what has arrived of answers not yet whole
        self.missing = 0  # bytes still to come of the answer in the inbox, when known
        self._readable = select.poll()
        self._readable.register(sock, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(sock, select.POLLOUT)

    def idle(self) -> bool:
        return not self.waiting and not self.reading

    def closed_by_peer(self) -> bool:
        """True if the server has closed this idle connection: its end of
        stream is already there. Checked before a call goes out on a
        connection nobody is reading, so that a call after a server restart
        connects again instead of failing on the dead connection."""
        try:
            return not self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    # ---- sending (holding send_lock) ----

    def frame(self, request_id: int, request: bytes) -> bytes:
        body_len = _ID_SIZE + len(request)
        if self.ipc:
            return _IPC_HEADER.pack(_IPC_MESSAGE_TYPE, body_len, request_id) + request
        return _TCP_HEADER.pack(body_len, request_id) + request

    def send_all(self, data: bytes, deadline: float) -> int:
        """Sends data until all of it is out or the deadline passes: the bytes
        sent. Raises _Failure if the socket fails."""
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                sent += self.sock.send(view[sent:], socket.MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                if not self._writable.poll(_remaining_ms(deadline)):
                    break
            except OSError as e:
                raise _Failure(_describe(e)) from None
        return sent

    # ---- reading (as the reader) ----

    def receive(self, deadline: float) -> bool:
        """Adds what has arrived to the inbox, waiting for it until the
        deadline: False if the deadline came first. Raises _Failure."""
        if not self._readable.poll(_remaining_ms(deadline)):
            return False
        want = min(max(self.missing, _RECV_MIN), _RECV_MAX)
        try:
            data = self.sock.recv(want)
        except (BlockingIOError, InterruptedError):
            return True  # nothing after all; wait again
        except OSError as e:
            raise _Failure(_describe(e)) from None
        if not data:
            raise _Failure("the server closed it (it stopped, or a message was over its size limit)")
        self.inbox += data
        return True

    def take_answers(self, max_message_size: int) -> List[Tuple[int, bytes]]:
        """Takes the whole answers out of the inbox: (request ID, response
        envelope) pairs. Raises _Failure for a malformed or oversize one, as
        soon as its header shows it."""
        inbox = self.inbox
        answers = []
        while len(inbox) >= self.header_size:
            if self.ipc and inbox[0] != _IPC_MESSAGE_TYPE:
                raise _Failure("the server sent a malformed message")
            body_len = int.from_bytes(inbox[self.header_size - 8 : self.header_size], "big")
            if body_len < _ID_SIZE:
                raise _Failure("the server sent a malformed message")
            if body_len - _ID_SIZE > max_message_size:
                raise _Failure(
                    f"an answer of {body_len - _ID_SIZE} bytes is over max_message_size "
                    f"({max_message_size} bytes)"
                )
            end = self.header_size + body_len
            if len(inbox) < end:
                self.missing = end - len(inbox)
                return answers
            start = self.header_size + _ID_SIZE
            request_id = int.from_bytes(inbox[self.header_size : start], "big")
            answers.append((request_id, bytes(inbox[start:end])))
            del inbox[:end]
        self.missing = 0
        return answers


# ---- the transport ---------------------------------------------------------------


class Transport:
    """One connection to one URL, made when a call needs it; :meth:`call` is
    safe from many threads at once."""

    def __init__(self, url: str, max_message_size: int) -> None:
        self.url = url
        self.max_message_size = max_message_size
        self._address = _parse_url(url)
        self._lock = threading.Lock()
        self._connected = threading.Condition(self._lock)  # a call stopped connecting
        self._closing = threading.Event()  # cuts a reconnect back-off short
        self._closed = False
        self._conn: Optional[_Connection] = None  # where calls go; None until connected
        self._connecting = False  # a call is making a connection
        self._dialing: Optional[socket.socket] = None  # its socket, for close() to wake
        self._last_id = 0

    # ---- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Closes the connection: calls still waiting fail with CANCELLED."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closing.set()
            if self._conn is not None:
                self._break(self._conn, "the client was closed")
            if self._dialing is not None:
                _shutdown(self._dialing)
            self._connected.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- calls -------------------------------------------------------------

    def call(self, request: bytes, deadline: float, timeout_ms: int) -> bytes:
        """Sends one request and returns the answer's bytes, before ``deadline``
        (a time.monotonic() value). Raises Error on any transport failure."""
        if len(request) > self.max_message_size:
            raise Error(
                StatusCode.RESOURCE_EXHAUSTED,
                f"the request ({len(request)} bytes) is over the client's max_message_size "
                f"({self.max_message_size} bytes); it was not sent",
            )
        with self._lock:
            conn = self._connection(deadline, timeout_ms)
            self._last_id = (self._last_id + 1) & ~_ID_LAST_HOP
            call = _Call(self._last_id | _ID_LAST_HOP, conn)
            conn.waiting[call.id] = call
        try:
            went_out = self._send(call, request, deadline)
        except BaseException:
            with self._lock:
                self._finish(call)
            raise
        with self._lock:
            try:
                if went_out:
                    self._await_answer(call, deadline)
                return self._outcome(call, went_out, timeout_ms)
            finally:
                self._finish(call)

    def _outcome(self, call: _Call, went_out: bool, timeout_ms: int) -> bytes:
        if call.answer is not None:
            return call.answer
        if self._closed:
            raise _cancelled(during_call=True)
        if call.done:
            raise Error(
                StatusCode.UNAVAILABLE,
                f"the connection to {self.url} closed before the answer: {call.conn.why} "
                "(the request may have been applied)",
            )
        if not went_out:
            raise Error(
                StatusCode.DEADLINE_EXCEEDED,
                f"the request to {self.url} could not be sent within {timeout_ms} ms",
            )
        raise Error(
            StatusCode.DEADLINE_EXCEEDED,
            f"no answer from {self.url} within {timeout_ms} ms (the request may have been applied)",
        )

    def _finish(self, call: _Call) -> None:
        """The call is over: it stops waiting and gives back its use of the connection."""
        conn = call.conn
        if conn.waiting.get(call.id) is call:
            del conn.waiting[call.id]
        self._release(conn)

    # ---- connections (holding the lock) -----------------------------------------------

    def _connection(self, deadline: float, timeout_ms: int) -> _Connection:
        """The connection for a new call, made if there is none, with a use
        taken for the call. The lock is released while connecting."""
        while True:
            if self._closed:
                raise _cancelled()
            conn = self._conn
            if conn is not None and conn.idle() and conn.closed_by_peer():
                self._break(conn, "the server closed it")
                conn = None
            if conn is not None:
                conn.users += 1
                return conn
            if not self._connecting:
                self._connect(deadline, timeout_ms)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._not_connected(timeout_ms)
            self._connected.wait(left)

    def _connect(self, deadline: float, timeout_ms: int) -> None:
        """Makes the current connection, the lock released meanwhile."""
        self._connecting = True
        self._lock.release()
        try:
            sock = self._dial(deadline, timeout_ms)
        finally:
            self._lock.acquire()
            self._connecting = False
            self._connected.notify_all()
        if self._closed:
            sock.close()
            raise _cancelled()
        self._conn = _Connection(sock, self._address.ipc)

    def _break(self, conn: _Connection, why: str) -> None:
        """Marks conn broken: every call waiting on it fails, and the next
        call connects again. shutdown() wakes a reader or a sender blocked on
        the socket; the socket itself closes when its last user leaves."""
        if conn.broken:
            return
        conn.broken = True
        conn.why = why
        _shutdown(conn.sock)
        for call in conn.waiting.values():
            call.done = True
            call.wake()
        conn.waiting.clear()
        if self._conn is conn:
            self._conn = None
            self._release(conn)

    @staticmethod
    def _release(conn: _Connection) -> None:
        conn.users -= 1
        if conn.users == 0:
            conn.sock.close()

    def _not_connected(self, timeout_ms: int, why: str = "") -> Error:
        return Error(
            StatusCode.UNAVAILABLE,
            f"cannot reach lsmkv-server at {self.url}: not connected within {timeout_ms} ms "
            f"(is the server running?){': ' + why if why else ''}",
        )

    # ---- dialing (without the lock) ------------------------------------------------------

    def _dial(self, deadline: float, timeout_ms: int) -> socket.socket:
        """Connects, retrying with a back-off until the deadline."""
        backoff = _RECONNECT_MIN_S
        while True:
            try:
                return self._attempt(deadline)
            except _Failure as failure:
                last = str(failure)
            left = deadline - time.monotonic()
            if left > 0 and self._closing.wait(min(backoff, left)):
                raise _cancelled()
            # No attempt without time for it: its "timed out" would hide why the last one failed.
            if time.monotonic() >= deadline:
                raise self._not_connected(timeout_ms, last)
            backoff = min(backoff * 2, _RECONNECT_MAX_S)

    def _attempt(self, deadline: float) -> socket.socket:
        """One attempt at each of the server's addresses. Raises _Failure."""
        last = "no address"
        for family, sockaddr in self._address.targets():
            sock = socket.socket(family, socket.SOCK_STREAM)
            with self._lock:
                if self._closed:
                    sock.close()
                    raise _cancelled()
                self._dialing = sock
            try:
                _connect(sock, sockaddr, deadline)
                return sock
            except _Failure as failure:
                sock.close()
                last = str(failure)
            except BaseException:
                sock.close()
                raise
            finally:
                with self._lock:
                    self._dialing = None
        raise _Failure(last)

    # ---- sending and reading ------------------------------------------------------------

    def _send(self, call: _Call, request: bytes, deadline: float) -> bool:
        """Sends the call's request: False if the deadline passed before any
        of it went out. A failure breaks the connection (the call is then done)."""
        conn = call.conn
        data = conn.frame(call.id, request)
        if not conn.send_lock.acquire(timeout=_lock_timeout(deadline)):
            return False
        why = ""
        try:
            sent = conn.send_all(data, deadline)
            if sent == 0:
                return False
            if sent == len(data):
                return True
            why = "a request was cut short by its deadline"
        except _Failure as failure:
            why = str(failure)
        except BaseException:
            # Interrupted somewhere in the request: the stream may be mid-message.
            why = "a request was interrupted while being sent"
            raise
        finally:
            conn.send_lock.release()
            if why:
                # A request cut short leaves the stream mid-message: no other can follow it.
                with self._lock:
                    self._break(conn, f"sending failed: {why}")
        return True

    def _await_answer(self, call: _Call, deadline: float) -> None:
        """Waits for the call's answer until the deadline, reading for every
        call on the connection whenever no other call is. Holds the lock."""
        conn = call.conn
        while not call.done and time.monotonic() < deadline:
            if conn.reading or conn.broken:
                call.sleep(self._lock, deadline)
                continue
            conn.reading = True
            self._lock.release()
            why = None
            try:
                why = self._read_answers(conn, call, deadline)
            finally:
                self._lock.acquire()
                conn.reading = False
                self._wake_next_reader(conn, call)
            if why is not None:
                self._break(conn, why)

    def _read_answers(self, conn: _Connection, call: _Call, deadline: float) -> Optional[str]:
        """As the connection's reader: reads answers and delivers them until
        the call's own is in or the deadline passes (None), or the connection
        fails (why)."""
        try:
            while conn.receive(deadline):
                answers = conn.take_answers(self.max_message_size)
                if answers and self._deliver(conn, answers, call):
                    return None
        except _Failure as failure:
            return str(failure)
        return None

    def _deliver(self, conn: _Connection, answers: List[Tuple[int, bytes]], reader: _Call) -> bool:
        """Hands each answer to its call, dropping those whose call gave up;
        True once the reader's own call is done."""
        with self._lock:
            for request_id, answer in answers:
                call = conn.waiting.pop(request_id, None)
                if call is None:
                    continue  # its call gave up waiting
                call.answer = answer
                call.done = True
                if call is not reader:
                    call.wake()
            return reader.done

    @staticmethod
    def _wake_next_reader(conn: _Connection, reader: _Call) -> None:
        """Wakes a call other than the reader still waiting on conn, to read next."""
        for call in conn.waiting.values():
            if call is not reader:
                call.wake()
                return
