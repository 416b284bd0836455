"""put_get.py against the real lsmkv-server (CTest: client.examples), over
libnng on tcp:// and ipc://, and over SP framing written by hand on tcp://,
so that README's "Calling lsmkv from any language" cannot drift from what
the server speaks."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python", "tests"))

from server import Server, _tmp_root  # noqa: E402

# README's worked example: the Put envelope of key "greeting", value "hello",
# timeout_ms 5000.
README_PUT_ENVELOPE = (
    "0a 10 2f 6c 73 6d 6b 76 2e 76 31 2e 4b 56 2f 50 75 74 "
    "12 11 0a 08 67 72 65 65 74 69 6e 67 12 05 68 65 6c 6c 6f 18 88 27"
)


class PutGetExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sock_dir = tempfile.mkdtemp(prefix="lsmkv-ex-", dir=_tmp_root())
        cls.ipc_url = f"ipc://{cls.sock_dir}/kv.sock"
        cls.server = Server(["--listen", cls.ipc_url]).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        out = cls.server.output()
        cls.server.close()
        if os.path.exists(f"{cls.sock_dir}/kv.sock"):
            os.unlink(f"{cls.sock_dir}/kv.sock")
        os.rmdir(cls.sock_dir)
        if rc != 0:
            raise AssertionError(f"lsmkv-server exited {rc}:\n{out}")

    def run_example(self, *args):
        proc = subprocess.run([sys.executable, os.path.join(HERE, "put_get.py"), *args],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("Get: found True, value b'hello'", proc.stdout)
        return proc.stdout

    def test_nng_tcp(self):
        out = self.run_example("--transport", "nng", self.server.url)
        self.assertIn(f"Put request  RpcRequest {README_PUT_ENVELOPE}\n", out)

    def test_nng_ipc(self):
        self.run_example("--transport", "nng", self.ipc_url)

    def test_sp_framing_by_hand(self):
        self.run_example("--transport", "sp-tcp", self.server.url)


if __name__ == "__main__":
    unittest.main()
