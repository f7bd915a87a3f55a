"""RFC 3339 timestamps as the Kubernetes API and LiteLLM write them, parsed to UTC-aware datetimes, and
the few formats the tool writes. One place for these facts:

* LiteLLM renders ``2026-11-29T09:13:56.683000Z`` or ``…:56Z`` (docs/litellm-api.md); Kubernetes writes
  ``2026-11-29T09:13:56Z`` (``metav1.Time``) and ``…:56.123456Z`` (``metav1.MicroTime``, Lease times);
  a value without a zone is UTC (PostgreSQL ``timestamp without time zone`` columns hold UTC).
* Dump files carry a compact stamp, ``20261129T091356Z`` (ISO 8601 basic format), sortable as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: ``yyyymmddTHHMMSSZ`` as a regular expression (what ``compact_stamp`` writes).
COMPACT_STAMP_RE = r"\d{8}T\d{6}Z"


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC: a naive value is taken as UTC, an aware one is converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_utc(value: Any) -> datetime | None:
    """Parse a timestamp; None for None, "" or anything unparseable. Naive values are taken as UTC."""
    if value in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    """``2026-11-29T09:13:56Z``: UTC, whole seconds (``metav1.Time``; kubectl's restartedAt)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(value: datetime) -> str:
    """``2026-11-29T09:13:56.123456Z``: UTC with microseconds (``metav1.MicroTime``, e.g. Lease times)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compact_stamp(value: datetime) -> str:
    """``20261129T091356Z``: UTC, ISO 8601 basic format (dump file names; matches COMPACT_STAMP_RE)."""
    return as_utc(value).strftime("%Y%m%dT%H%M%SZ")
