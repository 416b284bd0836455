#!/usr/bin/env python3
"""One Put and one Get against lsmkv-server, speaking the envelope by hand.

This is the README's "Calling lsmkv from any language" worked through in
Python, with nothing of lsmkv's own clients: messages come from protoc
(`protoc --python_out=OUT -I proto lsmkv/v1/rpc.proto lsmkv/v1/kv.proto`,
OUT on PYTHONPATH), and the request travels either through the system's
libnng (ctypes) or, with --transport sp-tcp, over a plain TCP socket that
speaks nng's wire format itself — what a language without an nng binding
would do.

    put_get.py [--transport nng|sp-tcp] [--timeout-ms N] URL

It prints every message in hex and exits 0 when the Get reads back the Put.
"""

import argparse
import ctypes
import socket
import struct
import sys

from lsmkv.v1 import kv_pb2, rpc_pb2

# The largest answer we accept: at least the server's --max-message-size
# (16512 KiB by default); nng's own default (1 MiB) is too small for big values.
MAX_ANSWER = 32 << 20


class NngReq:
    """A REQ socket of the system's libnng: one request in flight at a time."""

    def __init__(self, url, timeout_ms):
        self.nng = nng = ctypes.CDLL("libnng.so.1")
        self.sock = ctypes.c_uint32()  # nng_socket is a struct of one uint32_t
        self._check(nng.nng_req0_open(ctypes.byref(self.sock)), "nng_req0_open")
        # Never resend: nng would resend after 60 s (or on a new connection),
        # and a resent Put could land after a newer write of the same key.
        ms, size = ctypes.c_int32, ctypes.c_size_t
        nng.nng_socket_set_ms(self.sock, b"req:resend-time", ms(-1))
        nng.nng_socket_set_size(self.sock, b"recv-size-max", size(MAX_ANSWER))
        nng.nng_socket_set_ms(self.sock, b"send-timeout", ms(timeout_ms))
        nng.nng_socket_set_ms(self.sock, b"recv-timeout", ms(timeout_ms))
        # Flags 0: connect now or fail. A long-lived client dials with
        # NNG_FLAG_NONBLOCK instead, and nng connects and reconnects by itself.
        self._check(nng.nng_dial(self.sock, url.encode(), None, 0), "nng_dial " + url)

    def _check(self, rv, what):
        if rv != 0:
            self.nng.nng_strerror.restype = ctypes.c_char_p
            sys.exit(f"{what}: {self.nng.nng_strerror(rv).decode()}")

    def call(self, request):
        self._check(self.nng.nng_send(self.sock, request, ctypes.c_size_t(len(request)), 0), "send")
        buf, size = ctypes.c_void_p(), ctypes.c_size_t()
        flag_alloc = 1  # NNG_FLAG_ALLOC: nng allocates the answer
        self._check(self.nng.nng_recv(self.sock, ctypes.byref(buf), ctypes.byref(size), flag_alloc),
                    "receive (the request may have been applied)")
        answer = ctypes.string_at(buf, size.value)
        self.nng.nng_free(buf, size)
        return answer


class SpTcpReq:
    """nng's REQ protocol over TCP, by hand. After connecting, both sides send
    8 bytes: 00 'S' 'P' 00, their protocol as 16 bits big-endian (req0 = 0x30,
    rep0 = 0x31), 00 00. Then each message is a 64-bit big-endian length and
    that many bytes: a REQ message starts with a 4-byte request ID (top bit
    set, big-endian) that the reply carries back, then the envelope."""

    def __init__(self, url, timeout_ms):
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        self.conn = socket.create_connection((host.strip("[]"), int(port)), timeout_ms / 1000)
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as nng does
        self.conn.sendall(b"\x00SP\x00\x00\x30\x00\x00")
        if self._read(8) != b"\x00SP\x00\x00\x31\x00\x00":
            sys.exit("the peer is not an SP rep0 socket")
        self.next_id = 1

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                sys.exit("connection closed before the answer (the request may have been applied)")
            data += chunk
        return data

    def call(self, request):
        request_id = struct.pack(">I", 0x80000000 | self.next_id)
        self.next_id += 1
        self.conn.sendall(struct.pack(">Q", 4 + len(request)) + request_id + request)
        while True:
            (length,) = struct.unpack(">Q", self._read(8))
            if length < 4 or length > MAX_ANSWER:
                sys.exit(f"bad answer length {length}")
            message = self._read(length)
            if message[:4] == request_id:  # else a late answer to an earlier request
                return message[4:]


def call(transport, method, request, response_type, timeout_ms):
    """One RPC: wrap, send, unwrap, check the status, parse the payload."""
    envelope = rpc_pb2.RpcRequest(method=f"/lsmkv.v1.KV/{method}",
                                  payload=request.SerializeToString(), timeout_ms=timeout_ms)
    wire = envelope.SerializeToString()
    print(f"{method} request  RpcRequest {wire.hex(' ')}")
    answer = transport.call(wire)
    print(f"{method} response RpcResponse {answer.hex(' ')}")
    response = rpc_pb2.RpcResponse.FromString(answer)
    if response.status.code != rpc_pb2.OK:
        sys.exit(f"{method}: {rpc_pb2.Code.Name(response.status.code)} "
                 f"({response.status.code}): {response.status.message}")
    return response_type.FromString(response.payload)


def main():
    p = argparse.ArgumentParser(description="One Put and one Get through the raw envelope.")
    p.add_argument("url", nargs="?", default="tcp://127.0.0.1:7420")
    p.add_argument("--transport", choices=("nng", "sp-tcp"), default="nng")
    p.add_argument("--timeout-ms", type=int, default=5000)
    a = p.parse_args()
    transport = (NngReq if a.transport == "nng" else SpTcpReq)(a.url, a.timeout_ms)

    put = call(transport, "Put", kv_pb2.PutRequest(key=b"greeting", value=b"hello"),
               kv_pb2.PutResponse, a.timeout_ms)
    print(f"Put: sequence {put.sequence}")
    get = call(transport, "Get", kv_pb2.GetRequest(key=b"greeting"), kv_pb2.GetResponse,
               a.timeout_ms)
    print(f"Get: found {get.found}, value {get.value!r}")
    return 0 if get.found and get.value == b"hello" else 1


if __name__ == "__main__":
    sys.exit(main())
