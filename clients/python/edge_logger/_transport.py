"""The background sender: a bounded queue, a thread that sends batches, retries that honour
Retry-After, gzip above a size, a flush at exit, and a fresh thread after a fork.

Nothing here raises into the application: every public method swallows its own failures and
counts them in ``stats()["internal_errors"]``.
"""

import atexit
import gzip
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque
from email.utils import parsedate_to_datetime

from ._scrub import scrub_event
from ._util import uuid7

#: Per-event reject codes of a 202 that mean "not queued, send again".
RETRYABLE_ITEM_CODES = {"enqueue_failed"}

_LIVE = weakref.WeakSet()


def retry_after_seconds(header, now=None):
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), else None."""
    if header is None:
        return None
    header = str(header).strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_seconds(attempt, base, cap, rand=random.random):
    """Exponential backoff with jitter: base × 2^(attempt-1), capped, then 50–100 % of that."""
    return min(cap, base * (2 ** max(0, attempt - 1))) * (0.5 + rand() / 2)


def urllib_send(url, body, headers, timeout):
    """POSTs with the standard library; returns ``(status, headers, text)``, raises OSError."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers or {}), e.read().decode("utf-8", "replace")


class Transport:
    """Sends events to ``POST {endpoint}/v1/logs`` from a background thread.

    ``send`` (``(url, body, headers, timeout) -> (status, headers, text)``), ``wait``
    (``seconds -> None``, the pause between retries) and ``rand`` are injectable so tests decide
    what the network answers and how long a retry waits, without sleeping.
    """

    def __init__(
        self,
        endpoint,
        key,
        max_queue=10000,
        batch_size=100,
        flush_interval=2.0,
        max_attempts=10,
        retry_base=0.5,
        retry_max=30.0,
        gzip_above=4096,
        timeout=10.0,
        exit_timeout=5.0,
        send=None,
        wait=None,
        rand=None,
    ):
        endpoint = (endpoint or "").rstrip("/")
        self.url = endpoint if endpoint.endswith("/v1/logs") else endpoint + "/v1/logs"
        self.key = key
        self.max_queue = max(1, int(max_queue))
        self.batch_size = min(1000, max(1, int(batch_size)))
        self.flush_interval = max(0.0, float(flush_interval))
        self.max_attempts = max(1, int(max_attempts))
        self.retry_base = float(retry_base)
        self.retry_max = float(retry_max)
        self.gzip_above = int(gzip_above)
        self.timeout = float(timeout)
        self.exit_timeout = float(exit_timeout)
        self._send = send or urllib_send
        self._wait = wait
        self._rand = rand or random.random
        self._counters = {
            "sent": 0,
            "dropped": 0,
            "rejected": 0,
            "failed": 0,
            "retries": 0,
            "internal_errors": 0,
        }
        self._reset_runtime()
        self._closed = False
        _LIVE.add(self)

    def _reset_runtime(self):
        """The per-process part: queue, lock, thread. A forked child starts it anew."""
        self._pid = os.getpid()
        self._queue = deque()
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._thread = None
        self._inflight = 0
        self._flush_waiters = 0

    # The application's side -----------------------------------------------------------------

    def enqueue(self, event):
        """Queues one event (a dict); gives it an ``event_id`` if it has none. Never raises."""
        try:
            if self._closed:
                return None
            if os.getpid() != self._pid:
                self._reset_runtime()  # forked without our fork hook (or before it ran)
            event = scrub_event(dict(event))
            event.setdefault("event_id", uuid7())
            line = json.dumps(event, default=str, separators=(",", ":"))
            with self._cond:
                self._queue.append(line)
                while len(self._queue) > self.max_queue:
                    self._queue.popleft()
                    self._counters["dropped"] += 1
                if len(self._queue) >= self.batch_size or self.flush_interval == 0:
                    self._cond.notify_all()
            self._ensure_thread()
            return event["event_id"]
        except Exception:
            self._count_internal()
            return None

    def flush(self, timeout=5.0):
        """Blocks until everything queued so far was sent or given up, or ``timeout`` passes.
        Returns True when nothing is left. Never raises."""
        try:
            deadline = time.monotonic() + max(0.0, timeout)
            with self._cond:
                if not self._queue and not self._inflight:
                    return True
                self._flush_waiters += 1
                try:
                    self._cond.notify_all()
                    self._ensure_thread_locked()
                    while self._queue or self._inflight:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return False
                        self._cond.wait(min(left, 0.05))
                    return True
                finally:
                    self._flush_waiters -= 1
        except Exception:
            self._count_internal()
            return False

    def close(self, timeout=None):
        """Flushes (within ``timeout``, default ``exit_timeout``) and stops the thread."""
        try:
            done = self.flush(self.exit_timeout if timeout is None else timeout)
            self._closed = True
            with self._cond:
                self._cond.notify_all()
            self._wake.set()
            return done
        except Exception:
            self._count_internal()
            return False

    def stats(self):
        try:
            with self._cond:
                return dict(self._counters, queued=len(self._queue) + self._inflight)
        except Exception:
            return dict(self._counters, queued=0)

    # The thread's side ----------------------------------------------------------------------

    def _count_internal(self):
        self._counters["internal_errors"] += 1

    def _ensure_thread(self):
        with self._cond:
            self._ensure_thread_locked()

    def _ensure_thread_locked(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="edge-logger", daemon=True)
            self._thread.start()

    def _run(self):
        while True:
            try:
                with self._cond:
                    if not self._queue and not self._closed:
                        self._cond.wait(self.flush_interval or None)
                    elif (
                        len(self._queue) < self.batch_size
                        and not self._flush_waiters
                        and not self._closed
                        and self.flush_interval
                    ):
                        # A partial batch waits out the interval for more events to join it.
                        self._cond.wait(self.flush_interval)
                    if self._closed and not self._queue:
                        return
                    batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                    self._inflight += len(batch)
                if batch:
                    try:
                        self._deliver(batch)
                    finally:
                        with self._cond:
                            self._inflight -= len(batch)
                            self._cond.notify_all()
            except Exception:
                self._count_internal()

    def _pause(self, seconds):
        if self._wait is not None:
            self._wait(seconds)
        else:
            self._wake.wait(seconds)

    def _deliver(self, batch):
        """Sends one batch until it is stored, refused or out of attempts."""
        attempt = 0
        while batch:
            attempt += 1
            status, headers, text = self._post(batch)
            if status == 202 or status == 200:
                retry, batch_errors = self._split_202(batch, text)
                self._counters["sent"] += len(batch) - len(retry) - batch_errors
                self._counters["rejected"] += batch_errors
                batch = retry
                if not batch:
                    return
            elif status == 413 and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half])
                self._deliver(batch[half:])
                return
            elif status is not None and 400 <= status < 500 and status not in (408, 429):
                self._counters["rejected"] += len(batch)
                return
            if attempt >= self.max_attempts or self._closed and attempt >= 2:
                self._counters["failed"] += len(batch)
                return
            self._counters["retries"] += len(batch)
            told = retry_after_seconds(_header(headers, "retry-after"))
            delay = told if told is not None else backoff_seconds(attempt, self.retry_base, self.retry_max, self._rand)
            self._pause(delay)

    def _post(self, batch):
        body = ("[" + ",".join(batch) + "]").encode("utf-8")
        headers = {
            "content-type": "application/json",
            "authorization": "Bearer " + str(self.key),
            "user-agent": "edge-logger-python",
        }
        if len(body) > self.gzip_above:
            body = gzip.compress(body)
            headers["content-encoding"] = "gzip"
        try:
            return self._send(self.url, body, headers, self.timeout)
        except Exception:
            return None, {}, ""  # the network: retried

    @staticmethod
    def _split_202(batch, text):
        """The events of a 202 to send again (not queued), and how many were refused."""
        try:
            errors = json.loads(text).get("errors") or []
        except (ValueError, AttributeError):
            return [], 0
        retry, refused = [], 0
        for error in errors:
            index = error.get("index") if isinstance(error, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(batch):
                continue
            if error.get("code") in RETRYABLE_ITEM_CODES:
                retry.append(batch[index])
            else:
                refused += 1
        return retry, refused


def _header(headers, name):
    for k, v in (headers or {}).items():
        if k.lower() == name:
            return v
    return None


def _after_fork_in_child():
    for transport in list(_LIVE):
        try:
            transport._reset_runtime()
        except Exception:
            pass


def _flush_all_at_exit():
    for transport in list(_LIVE):
        try:
            transport.close()
        except Exception:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_all_at_exit)
