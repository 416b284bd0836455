"""The lsmkv client: kv.proto's KV service over rpc.proto's envelope."""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from google.protobuf.message import DecodeError, Message

from . import _proto
from ._transport import Transport
from .errors import Error, StatusCode

Bytes = Union[bytes, bytearray, memoryview]

DEFAULT_URL = "tcp://127.0.0.1:7420"
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_MESSAGE_SIZE = 32 << 20  # a 16 MiB value with room to spare


class Sync(enum.IntEnum):
    """Durability of one write, on top of the server's ``--sync`` (kv.proto's SyncMode)."""

    DEFAULT = 0  #: the server's --sync setting
    ALWAYS = 1  #: the server fsyncs its write-ahead log before answering
    NONE = 2  #: answered once the server's OS has the bytes


@dataclass(frozen=True)
class TableInfo:
    """One SSTable (kv.proto's TableInfo)."""

    id: int
    level: int
    size_bytes: int
    entries: int  #: versions stored, tombstones included
    tombstones: int
    max_sequence: int
    min_key: bytes
    max_key: bytes


@dataclass(frozen=True)
class CompactionResult:
    """What a full compaction did (kv.proto's CompactResponse)."""

    input_tables: int  #: 0: there was nothing to compact
    input_bytes: int
    output_bytes: int
    dropped_entries: int  #: shadowed versions and tombstones removed
    tables: Tuple[TableInfo, ...]


@dataclass(frozen=True)
class LevelStats:
    """One level of the store (kv.proto's LevelStats)."""

    level: int
    tables: int
    bytes: int
    target_bytes: int  #: 0: no size target (level 0, the last level)
    compactions: int
    bytes_read: int
    bytes_written: int
    bytes_moved: int


@dataclass(frozen=True)
class Stats:
    """The server's counters: every field of kv.proto's StatsResponse."""

    memtable_entries: int
    memtable_bytes: int
    immutable_memtables: int
    immutable_bytes: int
    sstables: int
    sstable_bytes: int
    levels: Tuple[LevelStats, ...]
    puts: int
    gets: int
    deletes: int
    flushes: int
    compactions: int
    user_bytes_written: int
    wal_bytes_written: int
    flush_bytes_written: int
    compaction_bytes_read: int
    compaction_bytes_written: int
    wal_syncs: int
    write_slowdowns: int
    write_stalls: int
    stall_micros: int
    pending_compaction_bytes: int
    corruptions: int
    last_sequence: int
    open_tables: int
    block_cache_capacity: int
    block_cache_usage: int
    block_cache_hits: int
    block_cache_misses: int
    uptime_seconds: int
    server_version: str
    requests: int
    request_errors: int
    scans: int  #: Scan pages answered OK
    batches: int  #: Batch calls applied (their operations count in puts and deletes)
    multi_gets: int  #: MultiGet calls answered OK (their keys count in gets)
    extra: dict = field(default_factory=dict, compare=False)
    """Fields of a newer server that this client does not know (name → value)."""


@dataclass(frozen=True)
class Put:
    """A put in a :meth:`Client.batch`: key → value."""

    key: Bytes
    value: Bytes


@dataclass(frozen=True)
class Delete:
    """A delete in a :meth:`Client.batch` (deleting a missing key is fine)."""

    key: Bytes


class ScanPage(NamedTuple):
    """One page of a scan: the pairs, and where the next page starts
    (``None`` when the range is exhausted)."""

    pairs: List[Tuple[bytes, bytes]]
    resume_key: Optional[bytes]


#: Pairs per Scan call when the caller does not say (the server caps at 10000).
DEFAULT_SCAN_PAGE = 1000


def _table(t: Any) -> TableInfo:
    return TableInfo(
        id=t.id,
        level=t.level,
        size_bytes=t.size_bytes,
        entries=t.entries,
        tombstones=t.tombstones,
        max_sequence=t.max_sequence,
        min_key=bytes(t.min_key),
        max_key=bytes(t.max_key),
    )


def _optional_bytes(name: str, value: Any) -> bytes:
    return b"" if value is None else _bytes_arg(name, value)


def _bytes_arg(name: str, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError(f"{name} must be bytes, not str (encode it, e.g. {name}.encode())")
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


class Client:
    """A client of one lsmkv-server.

    ::

        with lsmkv.Client("tcp://127.0.0.1:7420", timeout=2.0) as kv:
            kv.put(b"k", b"v")
            assert kv.get(b"k") == b"v"

    Creating a client does not wait for the server: the first call connects
    (and a call after a server restart connects again). Every call has a
    deadline, ``timeout`` seconds from its start (the client's default or the
    call's ``timeout=``): it travels to the server in the envelope and is
    enforced here too, so no call waits longer, whether the server is slow,
    gone or never was there. A call is sent at most once (never resent); one
    that failed with DEADLINE_EXCEEDED or UNAVAILABLE may or may not have been
    applied.

    Keys and values are bytes (``bytes``, ``bytearray`` or ``memoryview``).
    Every failure raises :class:`lsmkv.Error`; a missing key is not a failure
    (:meth:`get` returns ``None``).

    One client may be shared by any number of threads: their calls share one
    connection, each request carries its own ID, and no call waits for
    another's answer.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        """Args:
        url: the server's address: ``tcp://host:port`` (``tcp4://``,
            ``tcp6://``, ``tcp://[v6 address]:port``), ``ipc:///path`` or
            ``abstract://name``.
        timeout: the default deadline of every call, in seconds (> 0).
        max_message_size: the largest request sent and answer accepted, in
            bytes. A larger answer closes the connection (UNAVAILABLE).

        Raises:
            Error: INVALID_ARGUMENT for a URL it does not understand.
        """
        self._timeout = self._check_timeout(timeout)
        if max_message_size <= 0:
            raise ValueError("max_message_size must be positive")
        self.url = url
        self._transport = Transport(url, max_message_size)

    # ---- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Closes the connection. Calls still running on other threads fail
        with CANCELLED; later calls too. Closing twice is harmless."""
        transport = getattr(self, "_transport", None)
        if transport is not None:
            transport.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._transport.closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<lsmkv.Client {self.url} timeout={self._timeout}s {state}>"

    # ---- the KV service ------------------------------------------------------

    def put(
        self, key: Bytes, value: Bytes, *, sync: Sync = Sync.DEFAULT, timeout: Optional[float] = None
    ) -> int:
        """Writes key → value and returns the store's last sequence number after it.

        The key must have 1 byte up to the server's key limit (64 KiB by
        default) and the value at most the server's value limit (16 MiB by
        default), else Error(INVALID_ARGUMENT) with the server's message.
        """
        req = _proto.kv.PutRequest(
            key=_bytes_arg("key", key), value=_bytes_arg("value", value), sync=int(sync)
        )
        return self._call("Put", req, _proto.kv.PutResponse, timeout).sequence

    def get(self, key: Bytes, *, timeout: Optional[float] = None) -> Optional[bytes]:
        """Returns the value of key, or None if the key does not exist."""
        req = _proto.kv.GetRequest(key=_bytes_arg("key", key))
        resp = self._call("Get", req, _proto.kv.GetResponse, timeout)
        return bytes(resp.value) if resp.found else None

    def delete(
        self, key: Bytes, *, sync: Sync = Sync.DEFAULT, timeout: Optional[float] = None
    ) -> int:
        """Deletes key (writes a tombstone; a missing key is fine) and returns
        the store's last sequence number after it."""
        req = _proto.kv.DeleteRequest(key=_bytes_arg("key", key), sync=int(sync))
        return self._call("Delete", req, _proto.kv.DeleteResponse, timeout).sequence

    def flush(self, *, timeout: Optional[float] = None) -> List[TableInfo]:
        """Has the server write its memtable to an SSTable and wait for pending
        flushes; returns the tables written (empty when the memtable was)."""
        resp = self._call("Flush", _proto.kv.FlushRequest(), _proto.kv.FlushResponse, timeout)
        return [_table(t) for t in resp.tables]

    def compact(self, *, timeout: Optional[float] = None) -> CompactionResult:
        """Has the server compact every SSTable (a full, manual compaction).
        A big store may need a longer ``timeout``."""
        r = self._call("Compact", _proto.kv.CompactRequest(), _proto.kv.CompactResponse, timeout)
        return CompactionResult(
            input_tables=r.input_tables,
            input_bytes=r.input_bytes,
            output_bytes=r.output_bytes,
            dropped_entries=r.dropped_entries,
            tables=tuple(_table(t) for t in r.tables),
        )

    def stats(self, *, timeout: Optional[float] = None) -> Stats:
        """Returns the server's counters and sizes."""
        r = self._call("Stats", _proto.kv.StatsRequest(), _proto.kv.StatsResponse, timeout)
        values: dict = {}
        extra: dict = {}
        known = Stats.__dataclass_fields__
        for fd in r.DESCRIPTOR.fields:
            if fd.name == "levels":
                continue
            (values if fd.name in known else extra)[fd.name] = getattr(r, fd.name)
        levels = tuple(
            LevelStats(
                level=lv.level,
                tables=lv.tables,
                bytes=lv.bytes,
                target_bytes=lv.target_bytes,
                compactions=lv.compactions,
                bytes_read=lv.bytes_read,
                bytes_written=lv.bytes_written,
                bytes_moved=lv.bytes_moved,
            )
            for lv in r.levels
        )
        return Stats(levels=levels, extra=extra, **values)

    def scan(
        self,
        start: Optional[Bytes] = None,
        end: Optional[Bytes] = None,
        *,
        prefix: Optional[Bytes] = None,
        limit: Optional[int] = None,
        keys_only: bool = False,
        page_size: int = DEFAULT_SCAN_PAGE,
        timeout: Optional[float] = None,
    ) -> Iterator[Tuple[bytes, bytes]]:
        """Yields ``(key, value)`` pairs in ascending key order from the range
        ``[start, end)`` restricted to keys that begin with ``prefix`` (every
        bound optional), fetching ``page_size`` pairs per call as it goes.

        ``limit`` stops after that many pairs. With ``keys_only`` the values
        are ``b""``. Each page is read at its own point in time, so a scan over
        several pages is not one snapshot; each page's call has its own
        deadline (``timeout``). Errors surface from the iteration as
        :class:`Error` (INVALID_ARGUMENT for start > end).
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        left = limit
        cursor = start
        while left is None or left > 0:
            want = page_size if left is None else min(page_size, left)
            page = self.scan_page(
                cursor, end, prefix=prefix, limit=want, keys_only=keys_only, timeout=timeout
            )
            for pair in page.pairs:
                yield pair
            if left is not None:
                left -= len(page.pairs)
            if page.resume_key is None:
                return
            if not page.pairs and page.resume_key == cursor:
                raise Error(StatusCode.INTERNAL, "the server answered a Scan page that does not advance")
            cursor = page.resume_key

    def scan_page(
        self,
        start: Optional[Bytes] = None,
        end: Optional[Bytes] = None,
        *,
        prefix: Optional[Bytes] = None,
        limit: int = DEFAULT_SCAN_PAGE,
        keys_only: bool = False,
        timeout: Optional[float] = None,
    ) -> ScanPage:
        """One Scan call: at most ``limit`` pairs (1 or more; the server caps
        it at 10000 and at its message size). To read on, call again with
        ``start=page.resume_key`` and every other argument unchanged, until
        ``resume_key`` is None. :meth:`scan` does that for you."""
        req = _proto.kv.ScanRequest(
            start=_optional_bytes("start", start),
            end=_optional_bytes("end", end),
            prefix=_optional_bytes("prefix", prefix),
            limit=limit,
            keys_only=keys_only,
        )
        r = self._call("Scan", req, _proto.kv.ScanResponse, timeout)
        pairs = [(bytes(kv.key), bytes(kv.value)) for kv in r.pairs]
        return ScanPage(pairs, bytes(r.resume_key) if r.resume_key else None)

    def batch(
        self,
        ops: Iterable[Union[Put, Delete]],
        *,
        sync: Sync = Sync.DEFAULT,
        timeout: Optional[float] = None,
    ) -> int:
        """Applies puts and deletes atomically — all of them, or on any error
        none — and returns the store's last sequence number after them::

            kv.batch([lsmkv.Put(b"a", b"1"), lsmkv.Delete(b"b")])

        Later operations on the same key win. A bad operation fails the whole
        batch with INVALID_ARGUMENT naming its index ("op 3: ...")."""
        req = _proto.kv.BatchRequest(sync=int(sync))
        for i, op in enumerate(ops):
            if isinstance(op, Put):
                req.ops.add(
                    type=_proto.kv.OP_TYPE_PUT,
                    key=_bytes_arg(f"ops[{i}].key", op.key),
                    value=_bytes_arg(f"ops[{i}].value", op.value),
                )
            elif isinstance(op, Delete):
                req.ops.add(type=_proto.kv.OP_TYPE_DELETE, key=_bytes_arg(f"ops[{i}].key", op.key))
            else:
                raise TypeError(f"ops[{i}] must be lsmkv.Put or lsmkv.Delete, not {type(op).__name__}")
        return self._call("Batch", req, _proto.kv.BatchResponse, timeout).sequence

    def multi_get(
        self, keys: Sequence[Bytes], *, timeout: Optional[float] = None
    ) -> List[Optional[bytes]]:
        """Reads many keys at one point in time: the i-th result is the value
        of ``keys[i]``, or None if it does not exist. At most 10000 keys per
        call; found values over the server's message size fail the call with
        RESOURCE_EXHAUSTED (ask for fewer keys at a time)."""
        req = _proto.kv.MultiGetRequest(
            keys=[_bytes_arg(f"keys[{i}]", k) for i, k in enumerate(keys)]
        )
        r = self._call("MultiGet", req, _proto.kv.MultiGetResponse, timeout)
        return [bytes(g.value) if g.found else None for g in r.results]

    # ---- the envelope --------------------------------------------------------

    @staticmethod
    def _check_timeout(timeout: float) -> float:
        if not isinstance(timeout, (int, float)) or not timeout > 0 or math.isinf(timeout):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        return float(timeout)

    def _call(self, method: str, request: Message, response_type: Any, timeout: Optional[float]):
        """One RPC: wraps request in an RpcRequest, exchanges it before the
        deadline, checks the status and decodes the method's response."""
        seconds = self._timeout if timeout is None else self._check_timeout(timeout)
        start = time.monotonic()
        timeout_ms = max(1, min(math.ceil(seconds * 1000), 0xFFFFFFFF))
        envelope = _proto.rpc.RpcRequest(
            method=_proto.method_path(method),
            payload=request.SerializeToString(),
            timeout_ms=timeout_ms,
        )
        answer = self._transport.call(envelope.SerializeToString(), start + seconds, timeout_ms)
        reply = _proto.rpc.RpcResponse()
        try:
            reply.ParseFromString(answer)
        except DecodeError as e:
            raise Error(StatusCode.INTERNAL, f"the answer is not an RpcResponse: {e}") from None
        code = reply.status.code
        if code != StatusCode.OK:
            message = reply.status.message
            if not message:
                try:
                    message = StatusCode(code).name.lower().replace("_", " ")
                except ValueError:
                    message = "unknown error"
            raise Error(code, message)
        response = response_type()
        try:
            response.ParseFromString(reply.payload)
        except DecodeError as e:
            raise Error(
                StatusCode.INTERNAL, f"the answer is not a {response_type.__name__}: {e}"
            ) from None
        return response
