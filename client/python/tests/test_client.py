"""The Python client against the real lsmkv-server (CTest: client.python)."""

from __future__ import annotations

import dataclasses
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lsmkv  # noqa: E402
from lsmkv import _proto  # noqa: E402
from server import Server, free_port  # noqa: E402
from sp_peer import SpPeer  # noqa: E402


class ServerTest(unittest.TestCase):
    server: Server

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Server().start()

    @classmethod
    def tearDownClass(cls) -> None:
        rc = cls.server.stop()
        out = cls.server.output()
        cls.server.close()
        if rc != 0:
            raise AssertionError(f"lsmkv-server exited {rc}:\n{out}")

    def client(self, **kw) -> lsmkv.Client:
        kw.setdefault("timeout", 10.0)
        c = lsmkv.Client(self.server.url, **kw)
        self.addCleanup(c.close)
        return c


class TestKV(ServerTest):
    def test_put_get_delete(self) -> None:
        kv = self.client()
        s1 = kv.put(b"alpha", b"one")
        self.assertEqual(kv.get(b"alpha"), b"one")
        s2 = kv.put(b"alpha", b"two", sync=lsmkv.Sync.ALWAYS)
        self.assertGreater(s2, s1)
        self.assertEqual(kv.get(b"alpha"), b"two")
        s3 = kv.delete(b"alpha", sync=lsmkv.Sync.NONE)
        self.assertGreater(s3, s2)
        self.assertIsNone(kv.get(b"alpha"))
        # Deleting a missing key is fine.
        self.assertGreater(kv.delete(b"never-there"), s3)

    def test_missing_key_is_none(self) -> None:
        self.assertIsNone(self.client().get(b"no such key"))

    def test_binary_keys_and_values(self) -> None:
        kv = self.client()
        key = b"\x00bin\x00key\xff"
        value = bytes(range(256)) * 4 + b"\x00"
        kv.put(key, value)
        self.assertEqual(kv.get(key), value)
        self.assertIsNone(kv.get(b"\x00bin\x00key"))  # a prefix is another key
        kv.put(bytearray(b"\x00"), memoryview(b""))  # bytes-likes; empty value
        self.assertEqual(kv.get(b"\x00"), b"")

    def test_large_value(self) -> None:
        kv = self.client()
        value = random.Random(1).randbytes(3 << 20)
        kv.put(b"large", value)
        self.assertEqual(kv.get(b"large"), value)

    def test_flush_compact_stats(self) -> None:
        kv = self.client()
        for i in range(50):
            kv.put(b"fc%03d" % i, b"v%d" % i)
        kv.delete(b"fc000")
        tables = kv.flush()
        self.assertEqual(len(tables), 1)
        t = tables[0]
        self.assertIsInstance(t, lsmkv.TableInfo)
        self.assertGreater(t.size_bytes, 0)
        self.assertGreaterEqual(t.entries, 51)
        self.assertGreaterEqual(t.tombstones, 1)
        self.assertLessEqual(t.min_key, b"fc000")
        self.assertGreaterEqual(t.max_key, b"fc049")
        self.assertEqual(kv.flush(), [])  # nothing left in the memtable
        result = kv.compact()
        self.assertIsInstance(result, lsmkv.CompactionResult)
        self.assertGreaterEqual(result.input_tables, 1)
        self.assertGreater(result.input_bytes, 0)
        self.assertEqual(kv.get(b"fc001"), b"v1")
        self.assertIsNone(kv.get(b"fc000"))
        stats = kv.stats()
        self.assertGreaterEqual(stats.puts, 50)
        self.assertGreaterEqual(stats.deletes, 1)
        self.assertGreaterEqual(stats.flushes, 1)
        self.assertGreaterEqual(stats.compactions, 1)
        self.assertGreater(stats.last_sequence, 0)
        self.assertGreater(stats.requests, 0)
        self.assertTrue(stats.server_version)
        self.assertTrue(all(isinstance(lv, lsmkv.LevelStats) for lv in stats.levels))

    def test_stats_has_every_field_of_the_proto(self) -> None:
        proto_fields = {f.name for f in _proto.kv.StatsResponse.DESCRIPTOR.fields}
        ours = {f.name for f in dataclasses.fields(lsmkv.Stats)} - {"extra"}
        self.assertEqual(ours, proto_fields)
        level_fields = {f.name for f in _proto.kv.LevelStats.DESCRIPTOR.fields}
        self.assertEqual({f.name for f in dataclasses.fields(lsmkv.LevelStats)}, level_fields)
        table_fields = {f.name for f in _proto.kv.TableInfo.DESCRIPTOR.fields}
        self.assertEqual({f.name for f in dataclasses.fields(lsmkv.TableInfo)}, table_fields)
        self.assertEqual(self.client().stats().extra, {})

    def test_method_paths_from_the_service_descriptor(self) -> None:
        self.assertEqual(_proto.method_path("Put"), "/lsmkv.v1.KV/Put")
        self.assertEqual(_proto.method_path("Stats"), "/lsmkv.v1.KV/Stats")

    def test_status_codes_match_rpc_proto(self) -> None:
        names = {v.name: v.number for v in _proto.rpc.DESCRIPTOR.enum_types_by_name["Code"].values}
        self.assertEqual(names, {c.name: int(c) for c in lsmkv.StatusCode})
        sync = {v.name: v.number for v in _proto.kv.DESCRIPTOR.enum_types_by_name["SyncMode"].values}
        self.assertEqual(sync, {"SYNC_" + s.name: int(s) for s in lsmkv.Sync})


class TestScanBatchMultiGet(ServerTest):
    def test_scan_pages_for_the_caller(self) -> None:
        kv = self.client()
        keys = [b"scan:%03d\x00" % i for i in range(250)]
        kv.batch([lsmkv.Put(k, b"v" + k) for k in keys])
        kv.put(b"scan;after", b"x")  # just past the prefix
        got = list(kv.scan(prefix=b"scan:", page_size=7))
        self.assertEqual(got, [(k, b"v" + k) for k in keys])
        # A range, a total limit, keys only.
        got = list(kv.scan(keys[10], keys[20], page_size=3))
        self.assertEqual([k for k, _ in got], keys[10:20])
        got = list(kv.scan(prefix=b"scan:", limit=25, page_size=10, keys_only=True))
        self.assertEqual(got, [(k, b"") for k in keys[:25]])
        self.assertEqual(list(kv.scan(prefix=b"scan:", limit=0)), [])
        self.assertEqual(list(kv.scan(prefix=b"no such prefix")), [])

    def test_scan_page_and_resume_key(self) -> None:
        kv = self.client()
        kv.batch([lsmkv.Put(b"page:%d" % i, b"%d" % i) for i in range(5)])
        first = kv.scan_page(prefix=b"page:", limit=3)
        self.assertIsInstance(first, lsmkv.ScanPage)
        self.assertEqual([k for k, _ in first.pairs], [b"page:0", b"page:1", b"page:2"])
        self.assertIsNotNone(first.resume_key)
        rest = kv.scan_page(first.resume_key, prefix=b"page:", limit=3)
        self.assertEqual([k for k, _ in rest.pairs], [b"page:3", b"page:4"])
        self.assertIsNone(rest.resume_key)

    def test_scan_errors(self) -> None:
        kv = self.client()
        with self.assertRaises(lsmkv.Error) as cm:
            list(kv.scan(b"b", b"a"))
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(lsmkv.Error) as cm:
            kv.scan_page(limit=0)
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(ValueError):
            list(kv.scan(page_size=0))

    def test_batch_is_atomic(self) -> None:
        kv = self.client()
        kv.put(b"batch:gone", b"x")
        seq = kv.batch(
            [lsmkv.Put(b"batch:a", b"1"), lsmkv.Put(b"batch:a", b"2"),
             lsmkv.Delete(b"batch:gone"), lsmkv.Put(b"batch:\x00", b"")],
            sync=lsmkv.Sync.ALWAYS,
        )
        self.assertGreater(seq, 0)
        self.assertEqual(kv.get(b"batch:a"), b"2")  # later operations win
        self.assertIsNone(kv.get(b"batch:gone"))
        self.assertEqual(kv.get(b"batch:\x00"), b"")
        # One bad op: nothing is written, and the error names it.
        with self.assertRaises(lsmkv.Error) as cm:
            kv.batch([lsmkv.Put(b"batch:b", b"1"), lsmkv.Put(b"", b"2")])
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        self.assertIn("op 1", cm.exception.message)
        self.assertIsNone(kv.get(b"batch:b"))
        self.assertGreaterEqual(kv.batch([]), seq)  # an empty batch is fine
        with self.assertRaises(TypeError):
            kv.batch([(b"k", b"v")])  # type: ignore[list-item]

    def test_multi_get(self) -> None:
        kv = self.client()
        kv.batch([lsmkv.Put(b"mg:1", b"one"), lsmkv.Put(b"mg:\x00", b"\x00")])
        got = kv.multi_get([b"mg:1", b"mg:missing", b"mg:\x00", b"mg:1"])
        self.assertEqual(got, [b"one", None, b"\x00", b"one"])
        self.assertEqual(kv.multi_get([]), [])
        with self.assertRaises(lsmkv.Error) as cm:
            kv.multi_get([b"ok", b""])
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        self.assertIn("key 1", cm.exception.message)
        stats = kv.stats()
        self.assertGreaterEqual(stats.multi_gets, 1)
        self.assertGreaterEqual(stats.batches, 1)


class TestErrors(ServerTest):
    def test_empty_key_is_invalid_argument_with_the_servers_message(self) -> None:
        kv = self.client()
        for call in (lambda: kv.put(b"", b"v"), lambda: kv.get(b""), lambda: kv.delete(b"")):
            with self.assertRaises(lsmkv.Error) as cm:
                call()
            e = cm.exception
            self.assertEqual(e.code, lsmkv.StatusCode.INVALID_ARGUMENT)
            self.assertEqual(int(e.code), 3)
            self.assertEqual(e.code_name, "INVALID_ARGUMENT")
            self.assertEqual(e.message, "the key is empty")
            self.assertEqual(str(e), "INVALID_ARGUMENT (3): the key is empty")

    def test_oversize_key_and_bad_sync_mode(self) -> None:
        kv = self.client()
        with self.assertRaises(lsmkv.Error) as cm:
            kv.put(b"k" * (64 * 1024 + 1), b"v")
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        self.assertIn("limit", cm.exception.message)
        with self.assertRaises(lsmkv.Error) as cm:
            kv.put(b"k", b"v", sync=7)  # type: ignore[arg-type]
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        self.assertIn("sync mode 7", cm.exception.message)
        kv.put(b"still", b"works")  # the client is fine after errors
        self.assertEqual(kv.get(b"still"), b"works")

    def test_text_is_not_bytes(self) -> None:
        kv = self.client()
        with self.assertRaisesRegex(TypeError, "must be bytes, not str"):
            kv.put("k", b"v")  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            kv.get(42)  # type: ignore[arg-type]

    def test_request_over_max_message_size_is_not_sent(self) -> None:
        kv = self.client(max_message_size=1024)
        with self.assertRaises(lsmkv.Error) as cm:
            kv.put(b"k", b"x" * 2000)
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.RESOURCE_EXHAUSTED)

    def test_bad_arguments(self) -> None:
        with self.assertRaises(lsmkv.Error) as cm:
            lsmkv.Client("nonsense://where")
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
        for bad in (0, -1, float("nan"), float("inf")):
            with self.assertRaises(ValueError):
                lsmkv.Client(self.server.url, timeout=bad)

    def test_closed_client(self) -> None:
        kv = lsmkv.Client(self.server.url)
        with kv:
            kv.put(b"c", b"d")
        self.assertTrue(kv.closed)
        with self.assertRaises(lsmkv.Error) as cm:
            kv.get(b"c")
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.CANCELLED)
        kv.close()  # twice is fine


class TestUnreachable(unittest.TestCase):
    def test_nothing_listening_is_a_timely_unavailable(self) -> None:
        url = f"tcp://127.0.0.1:{free_port()}"
        with lsmkv.Client(url, timeout=0.5) as kv:
            start = time.monotonic()
            with self.assertRaises(lsmkv.Error) as cm:
                kv.get(b"k")
            elapsed = time.monotonic() - start
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.UNAVAILABLE)
        self.assertIn("is the server running", cm.exception.message)
        self.assertGreaterEqual(elapsed, 0.45)
        self.assertLess(elapsed, 3.0)

    def test_no_answer_is_a_timely_deadline_exceeded(self) -> None:
        silent = SpPeer()  # reads requests; answers none unless told to
        self.addCleanup(silent.close)
        with lsmkv.Client(silent.url, timeout=0.5) as kv:
            start = time.monotonic()
            with self.assertRaises(lsmkv.Error) as cm:
                kv.put(b"k", b"v", timeout=0.4)  # the call's own timeout wins
            elapsed = time.monotonic() - start
        self.assertEqual(cm.exception.code, lsmkv.StatusCode.DEADLINE_EXCEEDED)
        self.assertIn("may have been applied", cm.exception.message)
        self.assertLess(elapsed, 3.0)

    def test_close_from_another_thread_cancels_a_waiting_call(self) -> None:
        silent = SpPeer()  # reads requests; answers none unless told to
        self.addCleanup(silent.close)
        kv = lsmkv.Client(silent.url, timeout=30.0)
        errors = []

        def call() -> None:
            try:
                kv.get(b"k")
            except lsmkv.Error as e:
                errors.append(e)

        t = threading.Thread(target=call)
        start = time.monotonic()
        t.start()
        silent.next_request()  # it was sent and waits for its answer
        kv.close()
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual([e.code for e in errors], [lsmkv.StatusCode.CANCELLED])

    def test_server_stop_and_restart(self) -> None:
        with Server() as server:
            with lsmkv.Client(server.url, timeout=5.0) as kv:
                kv.put(b"durable", b"yes", sync=lsmkv.Sync.ALWAYS)
                self.assertEqual(server.stop(), 0)
                start = time.monotonic()
                with self.assertRaises(lsmkv.Error) as cm:
                    kv.get(b"durable", timeout=1.0)
                self.assertIn(cm.exception.code,
                              (lsmkv.StatusCode.UNAVAILABLE, lsmkv.StatusCode.DEADLINE_EXCEEDED))
                self.assertLess(time.monotonic() - start, 5.0)
                server.start(port=server.port)
                # The client reconnects by itself.
                deadline = time.monotonic() + 10
                while True:
                    try:
                        self.assertEqual(kv.get(b"durable"), b"yes")
                        break
                    except lsmkv.Error as e:
                        if e.code != lsmkv.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                            raise
                self.assertEqual(server.stop(), 0)


class TestConcurrency(ServerTest):
    THREADS = 16
    OPS = 300

    def test_threads_share_one_client(self) -> None:
        kv = self.client()
        failures: list = []
        models = [dict() for _ in range(self.THREADS)]
        barrier = threading.Barrier(self.THREADS)

        def worker(n: int) -> None:
            rng = random.Random(n)
            model = models[n]
            try:
                barrier.wait()
                for i in range(self.OPS):
                    key = b"t%02d\x00%03d" % (n, rng.randrange(40))
                    op = rng.random()
                    if op < 0.5:
                        value = b"%d:%d\x00" % (n, i) + rng.randbytes(rng.randrange(100))
                        kv.put(key, value, sync=lsmkv.Sync.NONE)
                        model[key] = value
                    elif op < 0.65:
                        kv.delete(key)
                        model.pop(key, None)
                    else:
                        got = kv.get(key)
                        if got != model.get(key):
                            failures.append((key, got, model.get(key)))
                    if i == self.OPS // 2 and n == 0:
                        kv.flush()
            except BaseException as e:  # noqa: BLE001 - reported below
                failures.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(failures, [])
        for n, model in enumerate(models):
            for k in range(40):
                key = b"t%02d\x00%03d" % (n, k)
                self.assertEqual(kv.get(key), model.get(key), key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
