"""Unit tests of the Python client: the network is a function the test scripts, retries wait
through an injected function that only records, so no test waits on the clock to decide."""

import gzip
import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from edge_logger import EdgeLoggerHandler, EventLogger, Transport, backoff_seconds, retry_after_seconds, stable_id  # noqa: E402
from edge_logger._scrub import scrub  # noqa: E402


class FakeNetwork:
    """Answers each POST from a script of ``(status, headers, body)`` or exceptions; records
    every request's events."""

    def __init__(self, *script):
        self.script = list(script) or [(202, {}, "{}")]
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, url, body, headers, timeout):
        raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        with self.lock:
            self.calls.append({"url": url, "headers": headers, "events": json.loads(raw), "bytes": len(body)})
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(self.calls[-1]["events"])
        return step

    def events(self):
        with self.lock:
            return [e for c in self.calls for e in c["events"]]


def transport(network, waits=None, **kw):
    # A long interval: nothing leaves before a batch fills or flush() asks, so batches are exact.
    kw.setdefault("flush_interval", 60)
    return Transport("https://logger.test", "elk_test", send=network, wait=(waits.append if waits is not None else (lambda s: None)), rand=lambda: 1.0, **kw)


def accepted(events):
    return 202, {}, json.dumps({"accepted": len(events), "rejected": 0, "ids": [], "errors": []})


class TransportTests(unittest.TestCase):
    def test_batches_by_count_as_json_with_the_key(self):
        net = FakeNetwork(accepted)
        t = transport(net, batch_size=3, flush_interval=60)
        ids = [t.enqueue({"message": f"m{i}"}) for i in range(7)]
        self.assertTrue(t.flush(10))
        self.assertEqual([len(c["events"]) for c in net.calls], [3, 3, 1])
        self.assertEqual([e["event_id"] for e in net.events()], ids)
        self.assertEqual(net.calls[0]["url"], "https://logger.test/v1/logs")
        self.assertEqual(net.calls[0]["headers"]["authorization"], "Bearer elk_test")
        self.assertEqual(t.stats()["sent"], 7)
        t.close()

    def test_retry_after_is_honoured_with_the_same_event_ids(self):
        waits = []
        net = FakeNetwork((503, {"Retry-After": "0.3"}, "{}"), accepted)
        t = transport(net, waits)
        ids = [t.enqueue({"message": "boom", "level": "error"}), t.enqueue({"message": "x"})]
        self.assertTrue(t.flush(10))
        self.assertEqual(waits, [0.3], "waited exactly as told")
        self.assertEqual(len(net.calls), 2)
        self.assertEqual([e["event_id"] for e in net.calls[1]["events"]], ids)
        self.assertEqual(net.calls[0]["events"], net.calls[1]["events"])
        self.assertEqual(t.stats()["retries"], 2)
        t.close()

    def test_backoff_doubles_without_retry_after_and_on_network_errors(self):
        waits = []
        net = FakeNetwork((429, {}, "{}"), OSError("connection refused"), (502, {}, "{}"), accepted)
        t = transport(net, waits, retry_base=0.04)
        t.enqueue({"message": "persistent"})
        self.assertTrue(t.flush(10))
        self.assertEqual(waits, [0.04, 0.08, 0.16])
        self.assertEqual(t.stats()["sent"], 1)
        t.close()

    def test_backoff_is_capped_and_jittered(self):
        self.assertEqual(backoff_seconds(1, 0.5, 30, lambda: 1.0), 0.5)
        self.assertEqual(backoff_seconds(20, 0.5, 30, lambda: 1.0), 30)
        self.assertEqual(backoff_seconds(3, 0.5, 30, lambda: 0.0), 1.0)

    def test_retry_after_seconds_or_http_date(self):
        self.assertEqual(retry_after_seconds("3"), 3.0)
        self.assertEqual(retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", now=4), 6.0)
        self.assertIsNone(retry_after_seconds("soon"))
        self.assertIsNone(retry_after_seconds(None))

    def test_refused_events_are_dropped_unqueued_ones_sent_again(self):
        first = (202, {}, json.dumps({"accepted": 1, "rejected": 2, "errors": [{"index": 0, "code": "invalid_event", "message": "bad"}, {"index": 2, "code": "enqueue_failed", "message": "later"}]}))
        net = FakeNetwork(first, accepted)
        t = transport(net)
        for m in ("refused", "fine", "unqueued"):
            t.enqueue({"message": m})
        self.assertTrue(t.flush(10))
        self.assertEqual([[e["message"] for e in c["events"]] for c in net.calls], [["refused", "fine", "unqueued"], ["unqueued"]])
        s = t.stats()
        self.assertEqual((s["sent"], s["rejected"]), (2, 1))
        t.close()

    def test_4xx_is_not_retried_and_413_splits(self):
        net = FakeNetwork((401, {}, "{}"))
        t = transport(net)
        t.enqueue({"message": "a"})
        t.enqueue({"message": "b"})
        self.assertTrue(t.flush(10))
        self.assertEqual((len(net.calls), t.stats()["rejected"]), (1, 2))
        t.close()
        net = FakeNetwork(lambda events: (413, {}, "{}") if len(events) > 2 else accepted(events))
        t = transport(net, batch_size=5)
        for i in range(5):
            t.enqueue({"message": f"e{i}"})
        self.assertTrue(t.flush(10))
        self.assertEqual([len(c["events"]) for c in net.calls], [5, 2, 3, 1, 2], "halved until it fits")
        self.assertEqual(t.stats()["sent"], 5)
        t.close()

    def test_gives_up_after_max_attempts(self):
        t = transport(FakeNetwork(OSError("offline")), max_attempts=3)
        t.enqueue({"message": "never"})
        self.assertTrue(t.flush(10))
        self.assertEqual(t.stats()["failed"], 1)
        t.close()

    def test_the_queue_is_bounded_the_oldest_dropped_and_counted(self):
        gate = threading.Event()
        net = FakeNetwork(lambda events: (gate.wait(10), accepted(events))[1])
        t = transport(net, max_queue=5, batch_size=1)
        t.enqueue({"message": "in flight"})
        deadline = time.monotonic() + 10
        while not net.calls and time.monotonic() < deadline:
            time.sleep(0.005)
        for i in range(8):
            t.enqueue({"message": f"e{i}"})
        self.assertEqual(t.stats()["dropped"], 3)
        gate.set()
        self.assertTrue(t.flush(10))
        self.assertEqual([e["message"] for e in net.events()], ["in flight", "e3", "e4", "e5", "e6", "e7"])
        t.close()

    def test_large_bodies_are_gzipped(self):
        net = FakeNetwork(accepted)
        t = transport(net, gzip_above=1000)
        t.enqueue({"message": "x" * 5000})
        t.enqueue({"message": "small"})
        self.assertTrue(t.flush(10))
        self.assertEqual(net.calls[0]["headers"].get("content-encoding"), "gzip")
        self.assertLess(net.calls[0]["bytes"], 1000)
        t.close()

    def test_secret_named_keys_are_scrubbed_before_sending(self):
        net = FakeNetwork(accepted)
        t = transport(net)
        t.enqueue({"message": "login", "context": {"password": "hunter2", "user": {"api_key": "k", "name": "jo"}, "items": [{"token": "t"}]}, "tags": {"cookie": "c"}})
        self.assertTrue(t.flush(10))
        [e] = net.events()
        self.assertEqual(e["context"], {"password": "[Filtered]", "user": {"api_key": "[Filtered]", "name": "jo"}, "items": [{"token": "[Filtered]"}]})
        self.assertEqual(e["tags"], {"cookie": "[Filtered]"})
        self.assertEqual(scrub({"author": "a", "session": "s"}), {"author": "a", "session": "[Filtered]"})

    def test_nothing_raises_into_the_app(self):
        t = transport(FakeNetwork(accepted))

        class Unserializable:
            def __str__(self):
                raise RuntimeError("no str")

        self.assertIsNone(t.enqueue({"message": Unserializable()}))
        self.assertIsNone(t.enqueue(None))
        self.assertGreaterEqual(t.stats()["internal_errors"], 2)
        t.close()

    def test_a_forked_child_starts_its_own_thread_and_sends_only_its_own_events(self):
        if not hasattr(os, "fork"):
            self.skipTest("no fork")
        read_fd, write_fd = os.pipe()

        def child_network(url, body, headers, timeout):
            events = json.loads(body)
            os.write(write_fd, (json.dumps([e["message"] for e in events]) + "\n").encode())
            return accepted(events)

        gate = threading.Event()
        t = transport(lambda *a: (gate.wait(10), accepted(json.loads(a[1])))[1], batch_size=1)
        t.enqueue({"message": "parent"})
        pid = os.fork()
        if pid == 0:  # the child: the parent's queue and thread are not ours
            try:
                t._send = child_network
                t.enqueue({"message": "child"})
                ok = t.flush(10)
                os._exit(0 if ok else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        os.close(write_fd)
        sent_by_child = os.read(read_fd, 1000).decode().split()
        os.close(read_fd)
        gate.set()
        self.assertEqual(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8, 0)
        self.assertEqual([json.loads(x) for x in sent_by_child], [["child"]])
        self.assertTrue(t.flush(10))
        t.close()


class HandlerTests(unittest.TestCase):
    def setUp(self):
        self.net = FakeNetwork(accepted)
        self.handler = EdgeLoggerHandler("https://logger.test", "elk_test", service="api", environment="staging", release="1.2.0", transport=transport(self.net))
        self.log = logging.getLogger(f"shop.checkout.{self.id()}")
        self.log.propagate = False
        self.log.setLevel(logging.DEBUG)
        self.log.addHandler(self.handler)

    def tearDown(self):
        self.log.removeHandler(self.handler)
        self.handler.close()

    def test_records_map_onto_events(self):
        self.log.warning("cart %s is empty", 42, extra={"request_id": "r-1", "cart": {"items": 0}, "tags": {"team": "pay"}})
        self.log.debug("details")
        self.log.critical("down")
        self.assertTrue(self.handler.flush(10))
        warn, debug, critical = self.net.events()
        self.assertEqual(warn["message"], "cart 42 is empty")
        self.assertEqual(warn["level"], "warn")
        self.assertEqual(warn["component"], self.log.name)
        self.assertEqual((warn["service"], warn["environment"], warn["release"]), ("api", "staging", "1.2.0"))
        self.assertEqual(warn["request_id"], "r-1")
        self.assertEqual(warn["context"]["cart"], {"items": 0})
        self.assertEqual(warn["tags"], {"team": "pay"})
        self.assertRegex(warn["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(warn["event_id"])
        self.assertEqual((debug["level"], critical["level"]), ("debug", "critical"))

    def test_exc_info_becomes_an_exception_with_its_traceback(self):
        def charge():
            raise ValueError("amount must be positive")

        try:
            charge()
        except ValueError:
            self.log.exception("payment failed")
        self.assertTrue(self.handler.flush(10))
        [event] = self.net.events()
        self.assertEqual(event["level"], "error")
        self.assertEqual(event["error"]["type"], "ValueError")
        self.assertEqual(event["error"]["message"], "amount must be positive")
        self.assertIn('in charge', event["error"]["stack"])
        self.assertIn("Traceback (most recent call last)", event["error"]["stack"])


class EventLoggerTests(unittest.TestCase):
    def test_domain_events_and_stable_ids(self):
        net = FakeNetwork(accepted)
        ev = EventLogger("https://logger.test", "elk_test", service="worker", transport=transport(net))
        ev.log("invoice.sent", {"invoice": "i-1"}, routing_key="billing", priority=7, event_id="fixed-1")
        ids = [ev.started("wf-1"), ev.stage_started("wf-1", "fetch"), ev.stage_completed("wf-1", "fetch", duration_ms=12), ev.progress("wf-1", 50), ev.risk_alert("wf-1", "fraud", severity="critical"), ev.paused("wf-1", reason="manual"), ev.resumed("wf-1"), ev.error("wf-1", RuntimeError("boom"), stage="fetch")]
        self.assertEqual(ids[0], ev.started("wf-1"), "a retried step has the same event_id")
        self.assertNotEqual(ev.started("wf-2"), ids[0])
        self.assertEqual(ids[1], stable_id("wf-1", "stage.started", "fetch"))
        self.assertTrue(ev.flush(10))
        events = net.events()
        first = events[0]
        self.assertEqual((first["message"], first["event_id"], first["service"]), ("invoice.sent", "fixed-1", "worker"))
        self.assertEqual(first["tags"], {"event_type": "invoice.sent", "routing_key": "billing"})
        self.assertEqual(first["context"], {"invoice": "i-1", "priority": 7})
        by_type = {e["tags"]["event_type"]: e for e in events[1:]}
        self.assertEqual(by_type["stage.completed"]["context"], {"stage": "fetch", "duration_ms": 12})
        self.assertEqual(by_type["risk.alert"]["level"], "critical")
        self.assertEqual(by_type["workflow.paused"]["level"], "warn")
        self.assertEqual(by_type["workflow.error"]["error"]["type"], "RuntimeError")
        self.assertTrue(all(e["tags"]["workflow_id"] == "wf-1" for e in events[1:9]))
        ev.close()

    def test_reads_follow_cursors_and_report_failures_without_raising(self):
        pages = {None: {"logs": [{"id": "b"}], "next_cursor": "c1"}, "c1": {"logs": [{"id": "a"}], "next_cursor": None}}
        seen = []

        class Reader(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                from urllib.parse import parse_qs, urlparse

                q = parse_qs(urlparse(self.path).query)
                seen.append((self.headers.get("authorization"), q))
                body = json.dumps(pages[q.get("cursor", [None])[0]]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Reader)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{server.server_port}"
            ev = EventLogger(base, "elk_ingest", read_key="elk_read", transport=transport(FakeNetwork(accepted)))
            self.assertEqual([e["id"] for e in ev.by_workflow("wf-1")], ["b", "a"])
            self.assertEqual(seen[0][0], "Bearer elk_read")
            self.assertEqual(seen[0][1]["tag.workflow_id"], ["wf-1"])
            ev.recent_errors(hours=2)
            self.assertEqual(seen[-1][1]["min_level"], ["error"])
            self.assertIn("from", seen[-1][1])
            down = EventLogger("http://127.0.0.1:9", "k", read_key="r", transport=transport(FakeNetwork(accepted)))
            self.assertIsNone(down.by_workflow("wf-1"))
            self.assertEqual(down.stats()["read_errors"], 1)
        finally:
            server.shutdown()


class ExitTests(unittest.TestCase):
    def test_a_process_that_exits_flushes_what_it_queued(self):
        received = []

        class Sink(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                events = json.loads(body)
                received.extend(events)
                self.send_response(202)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"accepted": len(events), "rejected": 0, "ids": [], "errors": []}).encode())

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            script = (
                "import logging, sys; sys.path.insert(0, sys.argv[2]);"
                "from edge_logger import EdgeLoggerHandler;"
                "logging.getLogger().addHandler(EdgeLoggerHandler(sys.argv[1], 'elk_test', flush_interval=600));"
                "logging.getLogger().warning('sent on the way out')"
            )
            # A ten-minute interval: only the exit flush can send it.
            done = subprocess.run([sys.executable, "-c", script, f"http://127.0.0.1:{server.server_port}", os.path.dirname(HERE)], timeout=60)
            self.assertEqual(done.returncode, 0)
            self.assertEqual([e["message"] for e in received], ["sent on the way out"])
        finally:
            server.shutdown()


if __name__ == "__main__":
    unittest.main()
