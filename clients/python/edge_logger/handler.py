"""``logging.Handler`` that sends records to edge-logger."""

import logging
import traceback

from ._transport import Transport
from ._util import iso_time

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}

#: ``extra`` keys that are top-level fields of an event rather than context.
_FIELDS = ("trace_id", "span_id", "request_id", "user_id", "session_id", "endpoint", "component", "event_id", "source_type")


def level_name(levelno):
    """Python's numeric levels onto the worker's names."""
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


def exception_info(exc_type, exc, tb):
    """``{"type", "message", "stack"}`` with the traceback as Python prints it (the worker
    parses its frames)."""
    return {
        "type": getattr(exc_type, "__name__", str(exc_type)),
        "message": str(exc),
        "stack": "".join(traceback.format_exception(exc_type, exc, tb)),
    }


def record_to_event(record, service=None, environment=None, release=None):
    event = {
        "message": record.getMessage(),
        "level": level_name(record.levelno),
        "timestamp": iso_time(record.created),
        "component": record.name,
    }
    for name, value in (("service", service), ("environment", environment), ("release", release)):
        if value:
            event[name] = value
    if record.exc_info and record.exc_info[0] is not None:
        event["error"] = exception_info(*record.exc_info)
    context = {"logger": record.name, "module": record.module, "function": record.funcName, "line": record.lineno}
    for key, value in record.__dict__.items():
        if key in _STANDARD or key.startswith("_"):
            continue
        if key in _FIELDS and value is not None:
            event[key] = str(value)
        elif key == "tags" and isinstance(value, dict):
            event["tags"] = {str(k): str(v) for k, v in value.items()}
        else:
            context[key] = value
    event["context"] = context
    return event


class EdgeLoggerHandler(logging.Handler):
    """``logging.getLogger().addHandler(EdgeLoggerHandler(endpoint, key, service="api"))``.

    Records are queued and sent by a background thread; ``emit`` never blocks on the network
    and never raises. Keyword options beyond ``service``/``environment``/``release`` go to the
    transport (``batch_size``, ``flush_interval``, ``max_queue``, ``retry_base``, …).
    """

    def __init__(self, endpoint, key, service=None, environment=None, release=None, level=logging.NOTSET, transport=None, **options):
        super().__init__(level)
        self.defaults = (service, environment, release)  # not `self.release`: Handler.release() is the lock's
        self.transport = transport or Transport(endpoint, key, **options)

    def emit(self, record):
        try:
            self.transport.enqueue(record_to_event(record, *self.defaults))
        except Exception:
            self.transport._count_internal()

    def handleError(self, record):  # noqa: N802 (logging's name)
        self.transport._count_internal()  # never print to stderr from inside the app's logging

    def flush(self, timeout=5.0):
        return self.transport.flush(timeout)

    def close(self):
        try:
            self.transport.close()
        finally:
            super().close()

    def stats(self):
        return self.transport.stats()
