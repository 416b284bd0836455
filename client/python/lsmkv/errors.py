"""lsmkv's one error type and its status codes (rpc.proto's ``Code``)."""

from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    """gRPC's status codes with gRPC's numbers, as rpc.proto's ``Code`` enum."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class Error(Exception):
    """A failed call: the server's status, or a local transport failure.

    Attributes:
        code: the status (``StatusCode.INVALID_ARGUMENT``...); ``code.name`` is
            its name and ``int(code)`` its gRPC number.
        message: the server's Status.message, or a local explanation for
            transport failures:

            * UNAVAILABLE — not connected within the timeout (is the server
              running?), or the connection closed before the answer (the
              server stopped, or dropped a message over its size limit; the
              request may have been applied). The client reconnects by itself.
            * DEADLINE_EXCEEDED — sent, but no answer within the timeout (the
              request may have been applied), or the server saw the deadline
              pass before it ran the request.
            * RESOURCE_EXHAUSTED — a request over the client's
              max_message_size (not sent), or from the server.
            * CANCELLED — the client was closed.
            * INTERNAL — an answer that is not a valid RpcResponse.
    """

    code: StatusCode
    message: str

    def __init__(self, code: "StatusCode | int", message: str) -> None:
        try:
            code = StatusCode(code)
        except ValueError:
            message = f"(status {int(code)}) {message}"
            code = StatusCode.UNKNOWN
        self.code = code
        self.message = message
        super().__init__(f"{code.name} ({int(code)}): {message}")

    @property
    def code_name(self) -> str:
        """The code's name, e.g. ``"INVALID_ARGUMENT"``."""
        return self.code.name

    def __reduce__(self):  # picklable, e.g. across multiprocessing
        return (type(self), (int(self.code), self.message))
