"""Typed domain events, and the read helpers that find them again."""

import json
import time
import urllib.parse
import urllib.request

from ._transport import Transport
from ._util import iso_time, stable_id
from .handler import exception_info

#: ``risk_alert(severity=…)`` onto levels.
SEVERITY_LEVELS = {"low": "info", "medium": "warn", "high": "error", "critical": "critical"}


class EventLogger:
    """``log(event_type, payload, …)`` plus workflow lifecycle helpers, each with a stable
    ``event_id`` (the same step of the same workflow is stored once, however often it is
    retried), and ``by_workflow`` / ``recent_errors`` over the read API.

    ``read_key`` (a key with the ``read`` scope) is needed for the read helpers only; they
    return ``None`` when the read fails (counted in ``stats()``), never raise.
    """

    def __init__(self, endpoint, key, service=None, environment=None, release=None, read_key=None, transport=None, **options):
        self.endpoint = (endpoint or "").rstrip("/")
        self.read_key = read_key
        self.defaults = {k: v for k, v in (("service", service), ("environment", environment), ("release", release)) if v}
        self.transport = transport or Transport(endpoint, key, **options)
        self._read_errors = 0
        self._last_read_error = None

    def log(self, event_type, payload=None, routing_key=None, priority=None, event_id=None, level="info", message=None, workflow_id=None, error=None):
        """Queues one domain event; returns its ``event_id`` (None if it could not be queued)."""
        try:
            tags = {"event_type": str(event_type)}
            if routing_key:
                tags["routing_key"] = str(routing_key)
            if workflow_id is not None:
                tags["workflow_id"] = str(workflow_id)
            context = dict(payload or {})
            if priority is not None:
                context["priority"] = priority
            event = dict(self.defaults, message=message or str(event_type), level=level, timestamp=iso_time(), tags=tags, context=context)
            if event_id:
                event["event_id"] = str(event_id)
            if error is not None:
                event["error"] = error
            return self.transport.enqueue(event)
        except Exception:
            self.transport._count_internal()
            return None

    def _step(self, workflow_id, event_type, key, payload, **kw):
        return self.log(event_type, payload, workflow_id=workflow_id, event_id=stable_id(workflow_id, event_type, *key), **kw)

    def started(self, workflow_id, **payload):
        return self._step(workflow_id, "workflow.started", (), payload, message=f"workflow {workflow_id} started")

    def completed(self, workflow_id, **payload):
        return self._step(workflow_id, "workflow.completed", (), payload, message=f"workflow {workflow_id} completed")

    def stage_started(self, workflow_id, stage, **payload):
        return self._step(workflow_id, "stage.started", (stage,), dict(payload, stage=stage), message=f"stage {stage} started")

    def stage_completed(self, workflow_id, stage, duration_ms=None, **payload):
        if duration_ms is not None:
            payload["duration_ms"] = duration_ms
        return self._step(workflow_id, "stage.completed", (stage,), dict(payload, stage=stage), message=f"stage {stage} completed")

    def progress(self, workflow_id, percent, **payload):
        return self._step(workflow_id, "workflow.progress", (percent,), dict(payload, percent=percent), message=f"workflow {workflow_id} at {percent}%")

    def risk_alert(self, workflow_id, risk, severity="high", **payload):
        level = SEVERITY_LEVELS.get(str(severity).lower(), "error")
        return self._step(workflow_id, "risk.alert", (risk,), dict(payload, risk=risk, severity=severity), level=level, message=f"risk: {risk}")

    def paused(self, workflow_id, reason=None, key=None, **payload):
        """``key`` tells apart pauses of one workflow (default: the reason)."""
        return self._step(workflow_id, "workflow.paused", (key if key is not None else reason,), dict(payload, reason=reason), level="warn", message=f"workflow {workflow_id} paused")

    def resumed(self, workflow_id, key=None, **payload):
        return self._step(workflow_id, "workflow.resumed", (key,), payload, message=f"workflow {workflow_id} resumed")

    def error(self, workflow_id, exc=None, stage=None, message=None, **payload):
        """An error of a workflow: an exception (its traceback becomes frames) or a message."""
        info = exception_info(type(exc), exc, exc.__traceback__) if isinstance(exc, BaseException) else None
        text = message or (f"{type(exc).__name__}: {exc}" if info else str(exc or "workflow error"))
        if stage is not None:
            payload["stage"] = stage
        return self._step(workflow_id, "workflow.error", (stage, text), payload, level="error", message=text, error=info)

    # Reads -------------------------------------------------------------------------------

    def by_workflow(self, workflow_id, limit=1000):
        """Every event of a workflow, newest first (pages followed), or None if the read failed."""
        return self._read({"tag.workflow_id": str(workflow_id)}, limit)

    def recent_errors(self, hours=24, limit=100):
        """Errors and worse of the last ``hours``, newest first, or None if the read failed."""
        return self._read({"min_level": "error", "from": iso_time(time.time() - hours * 3600)}, limit)

    def _read(self, params, limit):
        try:
            out, cursor = [], None
            while len(out) < limit:
                query = dict(params, limit=min(1000, limit - len(out)))
                if cursor:
                    query["cursor"] = cursor
                url = f"{self.endpoint}/v1/logs?{urllib.parse.urlencode(query)}"
                request = urllib.request.Request(url, headers={"authorization": f"Bearer {self.read_key}"})
                with urllib.request.urlopen(request, timeout=self.transport.timeout) as response:
                    page = json.loads(response.read())
                out.extend(page.get("logs", []))
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            return out
        except Exception as e:  # a read the app asked for: reported in stats, never raised
            self._read_errors += 1
            self._last_read_error = f"{type(e).__name__}: {e}"
            return None

    def flush(self, timeout=5.0):
        return self.transport.flush(timeout)

    def close(self, timeout=None):
        return self.transport.close(timeout)

    def stats(self):
        return dict(self.transport.stats(), read_errors=self._read_errors, last_read_error=self._last_read_error)
