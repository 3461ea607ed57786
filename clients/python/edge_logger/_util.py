"""Small helpers with no dependencies: time-ordered ids and times as the worker reads them."""

import os
import time
import uuid
from datetime import datetime, timezone


def uuid7(now_ms=None):
    """A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random. Time-ordered ids keep the
    worker's unique index appending at its end."""
    ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


#: The namespace of stable event ids (an arbitrary, fixed UUID).
EVENT_NAMESPACE = uuid.UUID("5b0d0c1e-7a8e-4f6f-9a52-6d3c1f0e2b77")


def stable_id(*parts):
    """The same id for the same parts, on every machine and every retry (UUIDv5)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def iso_time(epoch_seconds=None):
    """RFC 3339 in UTC with milliseconds."""
    t = time.time() if epoch_seconds is None else epoch_seconds
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
