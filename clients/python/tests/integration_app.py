"""An app for tests/clients.test.mjs: sends what MODE says to URL with KEY, tagged RUN."""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from edge_logger import EdgeLoggerHandler, EventLogger  # noqa: E402

mode, url, key, run = sys.argv[1:5]
# Quick retries so a dropped answer or a down worker is retried soon; a long interval so only
# full batches, flushes and the exit send anything.
options = dict(flush_interval=600, retry_base=0.2, retry_max=2.0, max_attempts=20, exit_timeout=30)


def charge_card(amount):
    if amount <= 0:
        raise ValueError("amount must be positive")


if mode in ("batch", "down"):
    events = EventLogger(url, key, service="py-worker", **options)
    for i in range(500):
        events.log("item.processed", {"n": i}, event_id=f"{run}-{i}", workflow_id=run)
    if mode == "down":
        print("queued", flush=True)
        # The app keeps running while the worker is away; this waits for it to come back.
        ok = events.flush(timeout=120)
        print("flushed", ok, events.stats(), flush=True)
elif mode == "exception":
    log = logging.getLogger("payments")
    log.addHandler(EdgeLoggerHandler(url, key, service="py-api", environment="production", **options))
    for attempt in range(3):
        try:
            charge_card(-attempt)
        except ValueError:
            log.exception("charge failed", extra={"tags": {"run": run}, "attempt": attempt})
elif mode == "exit":
    log = logging.getLogger("exiting")
    log.addHandler(EdgeLoggerHandler(url, key, service="py-exit", **options))
    for i in range(3):
        log.warning("on the way out %d", i, extra={"tags": {"run": run}})
# No flush: what is queued leaves at exit.
