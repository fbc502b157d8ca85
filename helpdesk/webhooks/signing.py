"""The signature of a webhook delivery (pure: no Flask, no database).

Every request carries::

    X-Helpdesk-Delivery:  3f1c…            the delivery's id (the same on retries and replays)
    X-Helpdesk-Event:     ticket.created
    X-Helpdesk-Timestamp: 1767225600        Unix seconds when this attempt was signed
    X-Helpdesk-Signature: t=1767225600,v1=<hex>

``v1`` is the HMAC-SHA256, keyed with the endpoint's secret, of ``<timestamp>.<body>``
(the timestamp, a full stop, then the body's bytes exactly as sent). A receiver
recomputes it, compares in constant time, refuses a timestamp more than five minutes
away from its clock, and ignores a delivery id it has already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

DELIVERY_HEADER = "X-Helpdesk-Delivery"
EVENT_HEADER = "X-Helpdesk-Event"
TIMESTAMP_HEADER = "X-Helpdesk-Timestamp"
SIGNATURE_HEADER = "X-Helpdesk-Signature"
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 (a label, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={mac(secret, timestamp, body)}"


def headers(*, secret: str, timestamp: int, body: bytes, delivery_id: str, event: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "helpdesk-webhooks/1",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
    }


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does: parse ``t=…,v1=…``, check the age, compare in constant time."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(mac(secret, timestamp, body), parts.get("v1", ""))
