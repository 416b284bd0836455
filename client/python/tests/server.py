"""Starting the real lsmkv-server for the Python client's tests.

The binary comes from $LSMKV_SERVER (CTest passes the build's lsmkv-server);
it listens on a free loopback port with a temp data directory, and start()
waits until it accepts connections.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_path() -> str:
    path = os.environ.get("LSMKV_SERVER")
    if not path:
        raise RuntimeError("set LSMKV_SERVER to the lsmkv-server binary (CTest does)")
    return path


class Server:
    """One lsmkv-server process on 127.0.0.1:<port> with its own data directory."""

    def __init__(self, extra_args: Optional[List[str]] = None, data_dir: Optional[str] = None):
        self.extra_args = list(extra_args or [])
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="lsmkv-py-", dir=_tmp_root())
        self.port = 0
        self.url = ""
        self.proc: Optional[subprocess.Popen] = None
        self._log = tempfile.TemporaryFile(dir=_tmp_root())

    def start(self, port: Optional[int] = None, timeout: float = 20.0) -> "Server":
        """Starts the server (on `port`, or a free one, retried if it was taken)."""
        for _ in range(5):
            self.port = port or free_port()
            self.url = f"tcp://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [server_path(), "--listen", self.url, "--data-dir", self.data_dir,
                 "--log-level", "warn", *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            )
            if self._wait_listening(timeout):
                return self
            self.proc.wait()
            if port:  # a fixed port: no second chance
                break
        raise RuntimeError(f"lsmkv-server did not start:\n{self.output()}")

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status (it kills and raises if it does not exit)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"lsmkv-server ignored SIGTERM:\n{self.output()}")
        self.proc = None
        return rc

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        self._log.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _tmp_root() -> Optional[str]:
    root = os.environ.get("LSMKV_TEST_TMPDIR")
    if root:
        os.makedirs(root, exist_ok=True)
    return root
