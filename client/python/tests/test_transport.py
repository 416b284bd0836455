"""The client's SP transport against a hand-driven peer (sp_peer.py).

The peer answers exactly as each test says: whole, shuffled, cut short at a
chosen byte, oversize, late, or never. Nothing here depends on timing: the
tests wait on conditions (a request read, a call finished) with deadlines
far longer than they need. A call meant to time out is made on a connection
already open, where its request goes out whatever is left of its deadline,
so it ends the same way however slow the machine is.
"""

from __future__ import annotations

import os
import random
import select
import sys
import threading
import time
import unittest
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lsmkv  # noqa: E402
from lsmkv import _transport  # noqa: E402
from server import free_port  # noqa: E402
from sp_peer import Request, SpPeer  # noqa: E402

UNAVAILABLE = lsmkv.StatusCode.UNAVAILABLE
DEADLINE_EXCEEDED = lsmkv.StatusCode.DEADLINE_EXCEEDED
CANCELLED = lsmkv.StatusCode.CANCELLED
# Long enough never to matter on a loaded machine; a hang still ends.
PATIENCE = 30.0


class Background:
    """Runs fn on a thread of its own; result() waits for its outcome."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.value: object = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            self.value = fn()
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            self.error = e

    def finish(self) -> "Background":
        self._thread.join(PATIENCE * 2)
        if self._thread.is_alive():
            raise AssertionError("the call did not return")
        return self

    def result(self) -> object:
        self.finish()
        if self.error is not None:
            raise self.error
        return self.value

    def failure(self) -> lsmkv.Error:
        self.finish()
        if not isinstance(self.error, lsmkv.Error):
            raise AssertionError(f"expected lsmkv.Error, got {self.error!r} (value {self.value!r})")
        return self.error


class PeerTest(unittest.TestCase):
    KIND = "tcp"

    def peer(self, **kw) -> SpPeer:
        peer = SpPeer(self.KIND, **kw)
        self.addCleanup(self.check_peer, peer)
        return peer

    def check_peer(self, peer: SpPeer) -> None:
        peer.close()
        self.assertEqual(peer.errors, [])

    def client(self, peer: SpPeer, **kw) -> lsmkv.Client:
        kw.setdefault("timeout", PATIENCE)
        kv = lsmkv.Client(peer.url, **kw)
        self.addCleanup(kv.close)
        return kv

    def assert_unavailable(self, error: lsmkv.Error, *words: str) -> None:
        self.assertEqual(error.code, UNAVAILABLE, error)
        for word in words:
            self.assertIn(word, error.message)

    def answered_call(self, kv: lsmkv.Client, peer: SpPeer, key: bytes = b"again") -> None:
        """A call that the peer answers whole succeeds."""
        call = Background(lambda: kv.get(key))
        request = peer.next_request()
        self.assertEqual(request.key, key)
        request.answer(b"value of " + key)
        self.assertEqual(call.result(), b"value of " + key)


class TestConnectionDyingMidAnswer(PeerTest):
    """What wedged libnng: a connection that dies while an answer is half read."""

    def test_the_call_fails_and_the_next_call_reconnects(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        header = 9 if self.KIND in ("ipc", "abstract") else 8
        # Cut in the header, in the request ID, in the body, one byte short.
        cuts = (1, header - 1, header, header + 2, header + 20, -1)
        for cut in cuts:
            with self.subTest(cut=cut):
                call = Background(lambda: kv.get(b"k"))
                request = peer.next_request()
                request.conn.send(request.answer_frame(b"x" * 100)[:cut])
                request.conn.close()
                self.assert_unavailable(call.failure(), "closed before the answer")
                self.answered_call(kv, peer)
                self.assertIsNot(peer.connections[-1], request.conn)
        self.assertEqual(len(peer.connections), 1 + len(cuts))

    def test_every_call_on_the_connection_fails_and_answered_ones_succeed(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        keys = [b"k%d" % i for i in range(6)]
        calls = {key: Background(lambda key=key: kv.get(key)) for key in keys}
        requests = {r.key: r for r in (peer.next_request() for _ in keys)}
        self.assertEqual(len(peer.connections), 1)  # one connection for all the calls
        requests[b"k0"].answer(b"whole")
        half = requests[b"k1"].answer_frame(b"y" * 1000)
        requests[b"k1"].conn.send(half[: len(half) // 2])
        requests[b"k1"].conn.close()
        self.assertEqual(calls[b"k0"].result(), b"whole")
        for key in keys[1:]:
            self.assert_unavailable(calls[key].failure(), "closed before the answer")
        self.answered_call(kv, peer)

    def test_random_cuts_under_concurrent_calls(self) -> None:
        """Many rounds of concurrent calls, each round's connection ending (a
        close or a reset) at a random byte of the answers: no call hangs,
        each gets its own answer or UNAVAILABLE, and the next round connects
        again."""
        peer = self.peer()
        kv = self.client(peer)
        rng = random.Random(7)
        for round_ in range(100):
            keys = [b"r%d-%d" % (round_, i) for i in range(rng.randrange(1, 5))]
            calls = {key: Background(lambda key=key: kv.get(key)) for key in keys}
            requests = [peer.next_request() for _ in keys]
            rng.shuffle(requests)
            stream = b"".join(r.answer_frame(b"v" * rng.randrange(5000) + r.key) for r in requests)
            conn = requests[0].conn
            conn.send(stream[: rng.randrange(len(stream))])
            conn.reset() if rng.random() < 0.5 else conn.close()
            for key, call in calls.items():
                call.finish()
                if call.error is None:
                    self.assertTrue(call.value.endswith(key))
                else:
                    self.assert_unavailable(call.failure(), "closed before the answer")
        self.answered_call(kv, peer)

    def test_closing_the_client_as_its_connection_dies_mid_answer(self) -> None:
        """The shape that wedged libnng 1.5.2 within a few dozen rounds (its
        reaper thread blocked for good, nng_close never returned): answers
        half sent, then the connection ending as the client closes."""
        peer = self.peer()
        rng = random.Random(11)
        for round_ in range(100):
            kv = lsmkv.Client(peer.url, timeout=PATIENCE)
            keys = [b"c%d-%d" % (round_, i) for i in range(rng.randrange(1, 5))]
            calls = [Background(lambda key=key: kv.get(key)) for key in keys]
            requests = [peer.next_request() for _ in keys]
            stream = b"".join(r.answer_frame(b"v" * rng.randrange(100000)) for r in requests)
            conn = requests[0].conn
            conn.send(stream[: rng.randrange(len(stream))])
            closing = Background(kv.close)
            conn.reset() if rng.random() < 0.5 else conn.close()
            closing.result()  # returns: finish() fails the test if it hangs
            for call in calls:
                call.finish()
                if call.error is not None:
                    self.assertIn(call.failure().code, (CANCELLED, UNAVAILABLE))


class TestConnectionDyingMidAnswerIpc(TestConnectionDyingMidAnswer):
    KIND = "ipc"


class TestConnectionDyingMidAnswerAbstract(TestConnectionDyingMidAnswer):
    KIND = "abstract"


class TestAnswersOutOfOrder(PeerTest):
    THREADS = 8

    def test_shuffled_answers_reach_their_own_calls(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        rng = random.Random(3)
        for round_ in range(20):
            keys = [b"t%d-%d" % (round_, n) for n in range(self.THREADS)]
            calls = {key: Background(lambda key=key: kv.get(key)) for key in keys}
            requests = [peer.next_request() for _ in keys]
            rng.shuffle(requests)
            frames = [r.answer_frame(b"value of " + r.key) for r in requests]
            if round_ % 2:
                requests[0].conn.send(b"".join(frames))  # many answers in one read
            else:
                for r, frame in zip(requests, frames):
                    r.conn.send(frame)
            for key, call in calls.items():
                self.assertEqual(call.result(), b"value of " + key)
        self.assertEqual(len(peer.connections), 1)

    def test_a_reader_that_gives_up_hands_over_to_a_waiting_call(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        self.answered_call(kv, peer, b"connect")
        # The impatient call, alone, becomes the reader; the patient one waits
        # behind it, and must read its own answer once the impatient one gives up.
        impatient = Background(lambda: kv.get(b"impatient", timeout=1.0))
        first = peer.next_request()
        self.assertEqual(first.key, b"impatient")
        patient = Background(lambda: kv.get(b"patient"))
        second = peer.next_request()
        self.assertEqual(second.key, b"patient")
        self.assertEqual(impatient.failure().code, DEADLINE_EXCEEDED)
        second.answer(b"for the patient one")
        self.assertEqual(patient.result(), b"for the patient one")
        self.assertEqual(len(peer.connections), 1)


class TestLateAnswer(PeerTest):
    def expired_call(self, kv: lsmkv.Client, peer: SpPeer) -> Request:
        """Makes a call that was sent and then gave up waiting; returns its request."""
        self.answered_call(kv, peer, b"connect")
        late = Background(lambda: kv.get(b"late", timeout=1.0))
        request = peer.next_request()
        self.assertEqual(request.key, b"late")
        error = late.failure()
        self.assertEqual(error.code, DEADLINE_EXCEEDED)
        self.assertIn("no answer", error.message)
        return request

    def test_a_late_answer_is_dropped_before_the_next_call(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        late_request = self.expired_call(kv, peer)
        late_request.answer(b"too late")
        self.answered_call(kv, peer, b"next")
        self.assertEqual(len(peer.connections), 1)  # a late answer is no failure

    def test_a_late_answer_is_dropped_while_the_next_call_waits(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        late_request = self.expired_call(kv, peer)
        nxt = Background(lambda: kv.get(b"next"))
        next_request = peer.next_request()
        late_request.answer(b"too late")
        next_request.answer(b"on time")
        self.assertEqual(nxt.result(), b"on time")
        self.assertEqual(len(peer.connections), 1)


class TestBadAnswers(PeerTest):
    def test_an_answer_over_max_message_size_fails_and_the_next_call_reconnects(self) -> None:
        peer = self.peer()
        kv = self.client(peer, max_message_size=1024)
        call = Background(lambda: kv.get(b"big"))
        peer.next_request().answer(b"z" * 2000)
        self.assert_unavailable(call.failure(), "over max_message_size", "1024")
        self.answered_call(kv, peer)
        self.assertEqual(len(peer.connections), 2)

    def test_an_oversize_answer_fails_on_its_header_alone(self) -> None:
        peer = self.peer()
        kv = self.client(peer, max_message_size=1024)
        call = Background(lambda: kv.get(b"big"))
        request = peer.next_request()
        request.conn.send(request.conn.header(4 + (64 << 20)))  # the rest never comes
        self.assert_unavailable(call.failure(), "over max_message_size")

    def test_a_malformed_answer_fails_and_the_next_call_reconnects(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        call = Background(lambda: kv.get(b"k"))
        request = peer.next_request()
        header = b"\x02" + b"\x00" * 7 + b"\x08" if request.conn.ipc else b"\x00" * 7 + b"\x02"
        request.conn.send(header + b"\x00" * 8)  # ipc: a wrong type; tcp: a body shorter than an ID
        self.assert_unavailable(call.failure(), "malformed")
        self.answered_call(kv, peer)


class TestBadAnswersIpc(TestBadAnswers):
    KIND = "ipc"


class TestWrongPeer(PeerTest):
    def test_a_peer_that_is_not_rep0(self) -> None:
        peer = self.peer(protocol=0x0030)  # req0, as the client itself
        kv = self.client(peer, timeout=1.0)
        with self.assertRaises(lsmkv.Error) as cm:
            kv.get(b"k")
        self.assert_unavailable(cm.exception, "not rep0", "0x0030", "is the server running")
        self.assertEqual(peer.requests.qsize(), 0)  # nothing was sent

    def test_a_peer_that_does_not_speak_sp(self) -> None:
        peer = self.peer(raw_greeting=b"HTTP/1.1 400 Bad Request\r\n\r\n")
        with self.assertRaises(lsmkv.Error) as cm:
            self.client(peer, timeout=1.0).get(b"k")
        self.assert_unavailable(cm.exception, "does not speak the SP protocol")

    def test_a_peer_that_never_greets(self) -> None:
        peer = self.peer(raw_greeting=b"")
        with self.assertRaises(lsmkv.Error) as cm:
            self.client(peer, timeout=0.5).get(b"k")
        self.assert_unavailable(cm.exception, "no SP greeting came back")


class TestSending(PeerTest):
    def test_a_request_cut_short_by_its_deadline_breaks_the_connection(self) -> None:
        # The peer reads nothing, so 16 MiB cannot all leave before the deadline.
        peer = self.peer(hold_requests=True)
        kv = self.client(peer)
        with self.assertRaises(lsmkv.Error) as cm:
            kv.put(b"k", b"v" * (16 << 20), timeout=0.5)
        self.assert_unavailable(cm.exception, "cut short by its deadline")
        peer.release_requests()
        self.answered_call(kv, peer)
        self.assertEqual(len(peer.connections), 2)

    def test_requests_carry_ids_with_the_top_bit_and_the_method(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        ids = set()
        for _ in range(3):
            call = Background(lambda: kv.get(b"k"))
            request = peer.next_request()
            self.assertEqual(request.envelope.method, "/lsmkv.v1.KV/Get")
            self.assertGreater(request.envelope.timeout_ms, 0)
            ids.add(request.id)
            request.answer(None)
            self.assertIsNone(call.result())
        self.assertEqual(len(ids), 3)  # peer.errors checks the top bit


class TestIdleConnection(PeerTest):
    def test_a_connection_the_server_closed_while_idle_is_replaced(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        self.answered_call(kv, peer, b"first")
        peer.connections[0].close()
        # Wait until the client's end has seen the close (a condition, not a sleep).
        sock = kv._transport._conn.sock
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        self.assertTrue(poller.poll(PATIENCE * 1000))
        self.answered_call(kv, peer, b"second")  # reconnects instead of failing
        self.assertEqual(len(peer.connections), 2)


class TestIdleConnectionIpc(TestIdleConnection):
    KIND = "ipc"


class TestClose(PeerTest):
    def test_close_cancels_a_call_waiting_for_its_answer(self) -> None:
        peer = self.peer()
        kv = self.client(peer)
        call = Background(lambda: kv.get(b"k"))
        peer.next_request()
        kv.close()
        self.assertEqual(call.failure().code, CANCELLED)
        peer.connections[0].closed.wait(PATIENCE)
        self.assertTrue(peer.connections[0].closed.is_set())  # the socket was closed

    def test_close_cancels_a_call_still_connecting(self) -> None:
        peer = self.peer(raw_greeting=b"")  # connected, but waiting for a greeting
        kv = self.client(peer)
        call = Background(lambda: kv.get(b"k"))
        peer.wait_accepted()
        start = time.monotonic()
        kv.close()
        self.assertEqual(call.failure().code, CANCELLED)
        self.assertLess(time.monotonic() - start, PATIENCE)

    def test_close_cancels_a_call_backing_off(self) -> None:
        kv = lsmkv.Client(f"tcp://127.0.0.1:{free_port()}", timeout=PATIENCE)
        call = Background(lambda: kv.get(b"k"))
        kv.close()  # before, while or after it tries: CANCELLED all the same
        self.assertEqual(call.failure().code, CANCELLED)


class TestUrls(unittest.TestCase):
    def test_good_urls(self) -> None:
        parse = _transport._parse_url
        self.assertEqual(parse("tcp://localhost:7420")[:4], (False, 0, "localhost", 7420))
        self.assertEqual(parse("tcp://[::1]:80").host, "::1")
        self.assertEqual(parse("tcp4://127.0.0.1:1").family, _transport.socket.AF_INET)
        self.assertEqual(parse("tcp6://[::1]:65535").family, _transport.socket.AF_INET6)
        self.assertEqual(parse("ipc:///tmp/lsmkv.sock").unix, b"/tmp/lsmkv.sock")
        self.assertEqual(parse("ipc://relative/sock").unix, b"relative/sock")
        self.assertEqual(parse("abstract://lsmkv").unix, b"\x00lsmkv")
        self.assertTrue(parse("abstract://lsmkv").ipc)

    def test_bad_urls_name_the_url_and_what_is_wrong(self) -> None:
        bad = {
            "nonsense://where": "unknown scheme",
            "http://127.0.0.1:80": "unknown scheme",
            "127.0.0.1:7420": "unknown scheme",
            "tcp://127.0.0.1": "no port",
            "tcp://:7420": "no host",
            "tcp://h:0": "1 to 65535",
            "tcp://h:65536": "1 to 65535",
            "tcp://h:http": "1 to 65535",
            "tcp://[::1:80": "closing ']'",
            "tcp://[::1]80": "':port'",
            "ipc://": "no socket path",
            "ipc:///" + "x" * 200: "too long",
            "abstract://" + "x" * 108: "too long",
        }
        for url, why in bad.items():
            with self.subTest(url=url):
                with self.assertRaises(lsmkv.Error) as cm:
                    lsmkv.Client(url)
                self.assertEqual(cm.exception.code, lsmkv.StatusCode.INVALID_ARGUMENT)
                self.assertIn(f"'{url}'", cm.exception.message)
                self.assertIn(why, cm.exception.message)


class TestIpv6(PeerTest):
    KIND = "tcp6"

    def test_a_call_over_ipv6(self) -> None:
        try:
            peer = self.peer()
        except OSError as e:
            self.skipTest(f"no IPv6 loopback: {e}")
        self.answered_call(self.client(peer), peer)


if __name__ == "__main__":
    unittest.main(verbosity=2)
