"""Logging that keeps patient data out of log lines.

Code never logs patient-written text on purpose; as a second line of defence a
filter redacts things that look like personal data (e-mails, phone numbers, dates,
MRN-like numbers) from every record before it is emitted.
"""

from __future__ import annotations

import logging
import re

from flask import Flask

_PATTERNS = [
    # password reset links carry a secret in the path (helpdesk.auth.passwords)
    (re.compile(r"/password/reset/[^\s\"'?#/]+"), "/password/reset/[token]"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    (re.compile(r"\+?\d[\d\s().-]{7,}\d"), "[number]"),
    (re.compile(r"\b\d{1,4}[/-]\d{1,2}[/-]\d{1,4}\b"), "[date]"),
    (re.compile(r"\b\d{6,}\b"), "[number]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep it, but without arguments
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        if not root.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root.addHandler(handler)
        for handler in root.handlers:
            handler.addFilter(RedactingFilter())
    root.setLevel(logging.INFO if not app.testing else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # werkzeug's access log would print full URLs; keep the default but redacted.
    logging.getLogger("werkzeug").addFilter(RedactingFilter())
