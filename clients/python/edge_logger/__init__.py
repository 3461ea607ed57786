"""edge-logger for Python servers: a ``logging.Handler`` and typed domain events, sent from a
background thread that never blocks, crashes or slows the application. Standard library only.

    import logging
    from edge_logger import EdgeLoggerHandler
    logging.getLogger().addHandler(EdgeLoggerHandler("https://logger.example.com", "elk_…", service="api"))
"""

from ._transport import Transport, backoff_seconds, retry_after_seconds
from ._util import stable_id, uuid7
from .events import EventLogger
from .handler import EdgeLoggerHandler

__all__ = ["EdgeLoggerHandler", "EventLogger", "Transport", "backoff_seconds", "retry_after_seconds", "stable_id", "uuid7"]
__version__ = "0.1.0"
