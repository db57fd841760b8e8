"""HTTP-date formatting and parsing (RFC 9110 section 5.6.7)."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC

__all__ = ["format_http_date", "parse_http_date", "resolve_date"]


def format_http_date(timestamp: float) -> str:
    """Format a POSIX timestamp as an IMF-fixdate, e.g. ``Thu, 01 Jan 2026 00:00:00 GMT``."""
    return email.utils.formatdate(timestamp, usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Parse an HTTP-date into a POSIX timestamp; ``None`` when it is not a date."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        # RFC 9110 5.6.7: HTTP-dates are always GMT, whatever the obsolete form says.
        return parsed.replace(tzinfo=UTC).timestamp()
    return parsed.timestamp()


def resolve_date(value: str, now: float) -> str:
    """Turn a scripted date parameter into a header value.

    A number means "that many seconds before ``now``" (negative: in the future);
    anything else, valid HTTP-date or deliberate garbage, is sent verbatim.
    """
    try:
        seconds_ago = float(value)
    except ValueError:
        return value
    if not math.isfinite(seconds_ago):
        return value
    return format_http_date(now - seconds_ago)
