"""Secret-named keys are filtered before an event leaves the process (the worker scrubs too;
this keeps secrets off the wire and out of any proxy's logs)."""

import re

FILTERED = "[Filtered]"

#: The same key names the JavaScript SDK filters.
SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|api[-_]?key|^auth(orization)?$|cookie|^session$"
    r"|credit[-_]?card|card[-_]?number|^cvv$|^cvc$|^ssn$|private[-_]?key",
    re.IGNORECASE,
)


def scrub(value, depth=0):
    """A copy of ``value`` with the values of secret-named keys replaced, at any depth."""
    if depth > 16:
        return value
    if isinstance(value, dict):
        return {
            k: (FILTERED if isinstance(k, str) and SECRET_KEY.search(k) and v is not None else scrub(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub(v, depth + 1) for v in value]
    return value


def scrub_event(event):
    for field in ("context", "tags"):
        if isinstance(event.get(field), dict):
            event[field] = scrub(event[field])
    return event
