"""lsmkv: a client of lsmkv-server (proto/lsmkv/v1) over nng's SP req/rep protocol.

::

    import lsmkv

    with lsmkv.Client("tcp://127.0.0.1:7420", timeout=2.0) as kv:
        kv.put(b"k", b"v")
        kv.get(b"k")        # b"v"; None for a missing key
        kv.delete(b"k")
        kv.batch([lsmkv.Put(b"a", b"1"), lsmkv.Delete(b"b")])   # atomic
        kv.multi_get([b"a", b"b"])                            # [b"1", None]
        for key, value in kv.scan(prefix=b"user:"):           # pages for you
            ...

Every failure raises :class:`lsmkv.Error`, whose ``code`` is a
:class:`lsmkv.StatusCode` (gRPC's names and numbers) and ``message`` the
server's explanation.
"""

from .client import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_SCAN_PAGE,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Client,
    CompactionResult,
    Delete,
    LevelStats,
    Put,
    ScanPage,
    Stats,
    Sync,
    TableInfo,
)
from .errors import Error, StatusCode

__all__ = [
    "Client",
    "CompactionResult",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_SCAN_PAGE",
    "Delete",
    "Put",
    "ScanPage",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "Error",
    "LevelStats",
    "Stats",
    "StatusCode",
    "Sync",
    "TableInfo",
]
__version__ = "0.1.0"
