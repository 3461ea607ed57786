"""schemathesis hooks for this API (schemathesis.toml names this file).

NDJSON and Sentry envelopes are text on the wire: they go as text/plain does, under their own
media type, so the document's examples of them can be sent.
"""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/x-sentry-envelope", "text/plain")
