"""nng REQ transport over the system's libnng (Debian's libnng1) through ctypes.

Why it is built this way (the same design as the C client's transport.c):

* One REQ socket per client, and one nng *context* per call in flight: a
  context carries its own request, so calls from many threads do not wait for
  each other. Contexts are pooled (each with its own aio) and reused.
* nng 1.5.2 has no synchronous receive on a context, so each call drives its
  aio: ``nng_ctx_send`` then ``nng_aio_wait``, ``nng_ctx_recv`` then
  ``nng_aio_wait``. ctypes releases the GIL around every foreign call, so a
  thread blocked in ``nng_aio_wait`` lets the others run. No nng callback ever
  calls into Python (none are registered), so nothing runs on nng's threads.
* The aio timeout is set before each step to what is left of the call's
  deadline: no call waits longer than its timeout, whatever the server does.
* ``NNG_OPT_REQ_RESENDTIME`` is infinite on the socket and on every context:
  nng would otherwise resend a request after 60 s, and a resent Put could land
  after a newer one. A call is sent at most once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from typing import List, Optional

from .errors import Error, StatusCode

# nng.h values (nng 1.5.2).
_NNG_ETIMEDOUT = 5
_NNG_ECLOSED = 7
_NNG_ECONNRESET = 19
_NNG_ECANCELED = 20
_NNG_ECONNSHUT = 31
_NNG_DURATION_INFINITE = -1
_NNG_FLAG_NONBLOCK = 2
_OPT_REQ_RESENDTIME = b"req:resend-time"
_OPT_RECVMAXSZ = b"recv-size-max"
_OPT_RECONNMINT = b"reconnect-time-min"
_OPT_RECONNMAXT = b"reconnect-time-max"

# Reconnect quickly after a server restart, backing off to half a second.
_RECONNECT_MIN_MS = 20
_RECONNECT_MAX_MS = 500
# Idle contexts kept for reuse; more are closed when their call ends.
_MAX_IDLE = 64


class _Socket(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32)]


class _Ctx(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32)]


class _Dialer(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32)]


_p = ctypes.c_void_p


def _load_nng() -> ctypes.CDLL:
    names = ["libnng.so.1"]
    found = ctypes.util.find_library("nng")
    if found:
        names.append(found)
    last: Optional[OSError] = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as e:  # pragma: no cover - depends on the machine
            last = e
    else:  # pragma: no cover
        raise ImportError(f"lsmkv needs the nng library (Debian: apt-get install libnng1): {last}")

    def fn(name: str, restype, *argtypes):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    c_int, c_char_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t
    fn("nng_strerror", c_char_p, c_int)
    fn("nng_req0_open", c_int, ctypes.POINTER(_Socket))
    fn("nng_close", c_int, _Socket)
    fn("nng_socket_set_ms", c_int, _Socket, c_char_p, ctypes.c_int32)
    fn("nng_socket_set_size", c_int, _Socket, c_char_p, c_size_t)
    fn("nng_dialer_create", c_int, ctypes.POINTER(_Dialer), _Socket, c_char_p)
    fn("nng_dialer_set_ms", c_int, _Dialer, c_char_p, ctypes.c_int32)
    fn("nng_dialer_set_size", c_int, _Dialer, c_char_p, c_size_t)
    fn("nng_dialer_start", c_int, _Dialer, c_int)
    fn("nng_ctx_open", c_int, ctypes.POINTER(_Ctx), _Socket)
    fn("nng_ctx_close", c_int, _Ctx)
    fn("nng_ctx_set_ms", c_int, _Ctx, c_char_p, ctypes.c_int32)
    fn("nng_ctx_send", None, _Ctx, _p)
    fn("nng_ctx_recv", None, _Ctx, _p)
    fn("nng_aio_alloc", c_int, ctypes.POINTER(_p), _p, _p)
    fn("nng_aio_free", None, _p)
    fn("nng_aio_wait", None, _p)
    fn("nng_aio_result", c_int, _p)
    fn("nng_aio_set_timeout", None, _p, ctypes.c_int32)
    fn("nng_aio_set_msg", None, _p, _p)
    fn("nng_aio_get_msg", _p, _p)
    fn("nng_msg_alloc", c_int, ctypes.POINTER(_p), c_size_t)
    fn("nng_msg_free", None, _p)
    fn("nng_msg_body", _p, _p)
    fn("nng_msg_len", c_size_t, _p)
    fn("nng_stats_get", c_int, ctypes.POINTER(_p))
    fn("nng_stats_free", None, _p)
    fn("nng_stat_find_socket", _p, _p, _Socket)
    fn("nng_stat_find", _p, _p, c_char_p)
    fn("nng_stat_value", ctypes.c_uint64, _p)
    return lib


_nng = _load_nng()


def _strerror(rv: int) -> str:
    return _nng.nng_strerror(rv).decode("utf-8", "replace")


class _Slot:
    """One nng context and its aio: carries one call at a time."""

    __slots__ = ("ctx", "aio")

    def __init__(self, sock: _Socket) -> None:
        self.ctx = _Ctx()
        rv = _nng.nng_ctx_open(ctypes.byref(self.ctx), sock)
        if rv == _NNG_ECLOSED:
            raise Error(StatusCode.CANCELLED, "the client is closed")
        if rv != 0:
            raise Error(StatusCode.UNAVAILABLE, f"cannot open an nng context: {_strerror(rv)}")
        aio = _p()
        rv = _nng.nng_ctx_set_ms(self.ctx, _OPT_REQ_RESENDTIME, _NNG_DURATION_INFINITE)
        if rv == 0:
            rv = _nng.nng_aio_alloc(ctypes.byref(aio), None, None)
        if rv != 0:
            _nng.nng_ctx_close(self.ctx)
            raise Error(StatusCode.UNAVAILABLE, f"cannot open an nng context: {_strerror(rv)}")
        self.aio = aio

    def free(self) -> None:
        _nng.nng_ctx_close(self.ctx)
        _nng.nng_aio_free(self.aio)


def _remaining_ms(deadline: float) -> int:
    left = deadline - time.monotonic()
    if left <= 0:
        return 0
    return min(int(left * 1000) + 1, 0x7FFFFFFF)


class Transport:
    """A REQ socket dialing one URL; :meth:`call` is safe from many threads."""

    def __init__(self, url: str, max_message_size: int) -> None:
        self.url = url
        self.max_message_size = max_message_size
        self._lock = threading.Lock()
        self._idle: List[_Slot] = []
        self._closed = False
        self._sock = _Socket()
        rv = _nng.nng_req0_open(ctypes.byref(self._sock))
        if rv != 0:
            raise Error(StatusCode.UNAVAILABLE, f"cannot create an nng REQ socket: {_strerror(rv)}")
        _nng.nng_socket_set_ms(self._sock, _OPT_REQ_RESENDTIME, _NNG_DURATION_INFINITE)
        _nng.nng_socket_set_size(self._sock, _OPT_RECVMAXSZ, max_message_size)
        try:
            self._dial()
        except BaseException:
            _nng.nng_close(self._sock)
            raise

    def _dial(self) -> None:
        dialer = _Dialer()
        rv = _nng.nng_dialer_create(ctypes.byref(dialer), self._sock, self.url.encode())
        if rv != 0:
            raise Error(
                StatusCode.INVALID_ARGUMENT, f"invalid server URL '{self.url}': {_strerror(rv)}"
            )
        _nng.nng_dialer_set_ms(dialer, _OPT_RECONNMINT, _RECONNECT_MIN_MS)
        _nng.nng_dialer_set_ms(dialer, _OPT_RECONNMAXT, _RECONNECT_MAX_MS)
        _nng.nng_dialer_set_size(dialer, _OPT_RECVMAXSZ, self.max_message_size)
        # Non-blocking: connecting runs in the background and is retried, so a
        # client may be created before its server is up.
        rv = _nng.nng_dialer_start(dialer, _NNG_FLAG_NONBLOCK)
        if rv != 0:
            raise Error(StatusCode.INVALID_ARGUMENT, f"cannot dial '{self.url}': {_strerror(rv)}")

    # ---- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Closes the socket: calls still waiting fail with CANCELLED."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
        for slot in idle:
            slot.free()
        # Wakes calls still in flight on other threads (NNG_ECLOSED); each
        # frees its own context on the way out.
        _nng.nng_close(self._sock)

    @property
    def closed(self) -> bool:
        return self._closed

    def _slot_get(self) -> _Slot:
        with self._lock:
            if self._closed:
                raise Error(StatusCode.CANCELLED, "the client is closed")
            if self._idle:
                return self._idle.pop()
        return _Slot(self._sock)

    def _slot_put(self, slot: _Slot) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append(slot)
                return
        slot.free()

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
        slot = self._slot_get()
        msg = _p()
        rv = _nng.nng_msg_alloc(ctypes.byref(msg), len(request))
        if rv != 0:
            self._slot_put(slot)
            raise Error(StatusCode.RESOURCE_EXHAUSTED, f"cannot allocate a message: {_strerror(rv)}")
        if request:
            ctypes.memmove(_nng.nng_msg_body(msg), request, len(request))
        aio = slot.aio
        _nng.nng_aio_set_msg(aio, msg)
        _nng.nng_aio_set_timeout(aio, _remaining_ms(deadline))
        _nng.nng_ctx_send(slot.ctx, aio)
        _nng.nng_aio_wait(aio)
        rv = _nng.nng_aio_result(aio)
        if rv != 0:
            _nng.nng_msg_free(_nng.nng_aio_get_msg(aio))  # an unsent message stays ours
            slot.free()  # a context that failed mid-exchange is not reused
            raise self._failure(rv, sent=False, timeout_ms=timeout_ms)
        _nng.nng_aio_set_timeout(aio, _remaining_ms(deadline))
        _nng.nng_ctx_recv(slot.ctx, aio)
        _nng.nng_aio_wait(aio)
        rv = _nng.nng_aio_result(aio)
        if rv != 0:
            slot.free()
            raise self._failure(rv, sent=True, timeout_ms=timeout_ms)
        answer = _nng.nng_aio_get_msg(aio)
        try:
            return ctypes.string_at(_nng.nng_msg_body(answer), _nng.nng_msg_len(answer))
        finally:
            _nng.nng_msg_free(answer)
            self._slot_put(slot)

    def _connections(self) -> Optional[int]:
        """Live connections of the socket, from nng's statistics (None if unknown)."""
        root = _p()
        if _nng.nng_stats_get(ctypes.byref(root)) != 0:
            return None
        try:
            sock = _nng.nng_stat_find_socket(root, self._sock)
            pipes = _nng.nng_stat_find(sock, b"pipes") if sock else None
            return int(_nng.nng_stat_value(pipes)) if pipes else None
        finally:
            _nng.nng_stats_free(root)

    def _failure(self, rv: int, sent: bool, timeout_ms: int) -> Error:
        if self._closed or rv in (_NNG_ECLOSED, _NNG_ECANCELED):
            # Closing may first show as the connection's end (ECONNRESET).
            return Error(StatusCode.CANCELLED, "the client was closed during the call")
        if rv == _NNG_ETIMEDOUT and not sent:
            # REQ's send waits for a connection to take the request.
            if self._connections() in (0, None):
                return Error(
                    StatusCode.UNAVAILABLE,
                    f"cannot reach lsmkv-server at {self.url}: not connected within "
                    f"{timeout_ms} ms (is the server running?)",
                )
            return Error(
                StatusCode.DEADLINE_EXCEEDED,
                f"the request to {self.url} could not be sent within {timeout_ms} ms",
            )
        if rv == _NNG_ETIMEDOUT:
            return Error(
                StatusCode.DEADLINE_EXCEEDED,
                f"no answer from {self.url} within {timeout_ms} ms "
                "(the request may have been applied)",
            )
        if rv in (_NNG_ECONNRESET, _NNG_ECONNSHUT):
            return Error(
                StatusCode.UNAVAILABLE,
                f"the connection to {self.url} closed before the answer: the server stopped, "
                "or a message was over a size limit (the request may have been applied)",
            )
        return Error(StatusCode.UNAVAILABLE, f"call to {self.url} failed: {_strerror(rv)}")
