"""The optional pager/SMS hook: a signed JSON POST to PAGER_WEBHOOK_URL (no vendor SDK).

The body names the alert and the person to page, never the patient::

    {"alert_id": 12, "ticket_reference": "HD-7K2Q9", "level": "clinician", "round": 0,
     "reason": "on_duty", "recipient": {"user_id": 5, "role": "agent"},
     "raised_at": "2026-03-02T15:42:00+00:00", "notified_at": "2026-03-02T15:42:00+00:00",
     "sent_at": "2026-03-02T15:42:01+00:00"}

Headers: ``X-Helpdesk-Timestamp`` (Unix seconds) and ``X-Helpdesk-Signature:
sha256=<hex>``, the HMAC-SHA256 with PAGER_WEBHOOK_SECRET of ``<timestamp>.<body>``
(the timestamp, a full stop, then the body's bytes exactly as sent). A receiver
recomputes it, compares in constant time and refuses a timestamp more than five
minutes old. Any answer other than 2xx (or no answer) raises, and the outbox retries
the job with back-off (RQ's Retry with Redis; the periodic outbox sweep inline).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

TIMESTAMP_HEADER = "X-Helpdesk-Timestamp"
SIGNATURE_HEADER = "X-Helpdesk-Signature"
TIMEOUT_SECONDS = 10


class PagerError(Exception):
    """The hook did not accept the page (the job is retried)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def post(url: str, secret: str, payload: dict[str, Any], now: datetime) -> int:
    """POST the signed payload; the HTTP status on 2xx, PagerError otherwise."""
    if not url.startswith(("http://", "https://")):
        raise PagerError("the pager hook must be an http(s) URL")
    body = encode(payload)
    timestamp = str(int(now.timestamp()))
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 (http(s) only)
        "Content-Type": "application/json", "User-Agent": "helpdesk-pager/1",
        TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (configured URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise PagerError(f"pager hook answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PagerError(f"pager hook unreachable: {type(exc).__name__}") from None
    if not 200 <= status < 300:
        raise PagerError(f"pager hook answered {status}")
    return status
