"""The generated message classes (protoc --python_out, produced by the build)
and the method paths, read from kv.proto's service descriptor."""

from __future__ import annotations

try:
    from .v1 import kv_pb2 as kv  # noqa: F401  (generated into the build dir)
    from .v1 import rpc_pb2 as rpc  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on how it was set up
    if getattr(e, "name", "") and e.name.startswith("google"):
        raise ImportError(
            "lsmkv needs Debian's python3-protobuf, which /usr/bin/python3 sees "
            f"(this is another interpreter?): {e}"
        ) from e
    raise ImportError(
        "lsmkv's generated messages (lsmkv/v1/*_pb2.py) are missing: use the package "
        "the build assembles in <build>/client/python (cmake + ninja, or ./tools/dev.sh), "
        f"not the source directory: {e}"
    ) from e

_SERVICE = kv.DESCRIPTOR.services_by_name["KV"]


def method_path(name: str) -> str:
    """gRPC's path of a KV method: "/lsmkv.v1.KV/Put"."""
    method = _SERVICE.methods_by_name[name]
    return f"/{_SERVICE.full_name}/{method.name}"
