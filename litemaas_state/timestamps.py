"""RFC 3339 timestamps as the Kubernetes API and LiteLLM write them, parsed to UTC-aware datetimes.

One place for one fact: LiteLLM renders ``2026-11-29T09:13:56.683000Z`` or ``…:56Z``
(litellm-1.81-observed.md); Kubernetes writes ``2026-11-29T09:13:56Z``; a value without a zone is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_utc(value: Any) -> datetime | None:
    """Parse a timestamp; None for None, "" or anything unparseable. Naive values are taken as UTC."""
    if value in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
