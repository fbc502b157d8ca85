"""Logging that keeps patient data out of log lines.

Code never logs patient-written text on purpose; as a second line of defence every
record is redacted when it is created (a log-record factory, so that every handler —
files, the console, pytest's caplog — only ever sees the redacted record) and again by
a filter on the handlers: things that look like personal data (e-mails, phone
numbers, dates, MRN-like numbers) are replaced, and exception tracebacks keep their
frames and exception types but never the exception messages, which often carry user
input ("invalid value 'maria@…'").

Every record also carries the id of the web request it belongs to (``request_id``) and,
in a job, the job's id (``job``): a web request takes its id from a proxy's
``X-Request-ID`` (behind ``TRUSTED_PROXIES`` only, and only if it looks like an id) or
makes one, answers with it in ``X-Request-ID``, and every job it enqueues runs with the
same id (``helpdesk.jobs``). In production (``LOG_FORMAT=json``) each line is one JSON
object with a fixed set of fields — never a record's arbitrary ``extra=`` attributes,
which would bypass the redaction.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from flask import Flask, Response, g, request

_PATTERNS = [
    # password reset links carry a secret in the path (helpdesk.auth.passwords)
    (re.compile(r"/password/reset/[^\s\"'?#/]+"), "/password/reset/[token]"),
    # so do e-mail activation links (helpdesk.auth.activation)
    (re.compile(r"/account/verify-email/(?!resend\b)[^\s\"'?#/]+"), "/account/verify-email/[token]"),
    # and the portal's one-use sign-in links (helpdesk.auth.portal)
    (re.compile(r"/patient-link/[^\s\"'?#/]+"), "/patient-link/[token]"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    (re.compile(r"\+?\d[\d\s().-]{7,}\d"), "[number]"),
    (re.compile(r"\b\d{1,4}[/-]\d{1,2}[/-]\d{1,4}\b"), "[date]"),
    (re.compile(r"\b\d{6,}\b"), "[number]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


WITHHELD = "[message withheld]"


def redact_exception(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """A traceback with its frames and each exception's type, without the messages."""
    chain: list[BaseException] = []
    exc: BaseException | None = exc_info[1]
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
    parts: list[str] = []
    for i, exc in enumerate(reversed(chain)):
        if i:
            parts.append("\nWhile handling that exception, another one was raised:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        parts.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {WITHHELD}{_database_detail(exc)}\n")
    if not chain:
        parts.append(f"{exc_info[0].__qualname__ if exc_info[0] else 'Exception'}: {WITHHELD}\n")
    return redact("".join(parts)).rstrip("\n")


def _database_detail(exc: BaseException) -> str:
    """What PostgreSQL says of a failed statement that names no data: its SQLSTATE and the
    constraint, table and column involved (schema names; the message, which may quote
    values, stays withheld)."""
    diag = getattr(getattr(exc, "orig", exc), "diag", None)
    if diag is None:
        return ""
    named = [(label, getattr(diag, attr, None)) for label, attr in (
        ("sqlstate", "sqlstate"), ("constraint", "constraint_name"), ("table", "table_name"),
        ("column", "column_name"))]
    named = [(label, value) for label, value in named if value and re.fullmatch(r"[A-Za-z0-9_]{1,63}", value)]
    return f" ({', '.join(f'{label} {value}' for label, value in named)})" if named else ""


def redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_helpdesk_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: keep it, but without arguments
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact_exception(record.exc_info)  # type: ignore[arg-type]
        record.exc_info = None  # no handler may format the original (with its message)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._helpdesk_redacted = True  # type: ignore[attr-defined]


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


# ------------------------------------------------------------------ request and job ids

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may look like (nginx's $request_id, a UUID, …): nothing else is taken.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")
_context: ContextVar[dict[str, str] | None] = ContextVar("helpdesk_log_context", default=None)


def log_context() -> dict[str, str]:
    """The ids every log record of the current request or job carries."""
    return _context.get() or {}


def current_request_id() -> str | None:
    return log_context().get("request_id")


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Log records inside the block carry these ids (``request_id=…``, ``job=…``)."""
    token = _context.set({**log_context(), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it looks like an id and nothing in it looks like personal data."""
    if value and _SANE_ID.fullmatch(value) and redact(value) == value:
        return value
    return None


def init_request_ids(app: Flask) -> None:
    """Give every request an id; call before anything else registers request hooks, so
    that the id is set first and reset last."""
    log = logging.getLogger("helpdesk.request")

    @app.before_request
    def _bind_request_id() -> None:
        behind_proxy = app.config["HELPDESK"].trusted_proxies > 0  # only a trusted proxy's id is taken
        given = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) if behind_proxy else None
        g.request_id = given or new_request_id()
        g.request_started = time.perf_counter()
        g._log_context_token = _context.set({"request_id": g.request_id})

    @app.after_request
    def _answer_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
            started = g.get("request_started")
            # the endpoint's name, never the path (it may carry a reference or a token)
            log.info("%s %s %s", request.method, request.endpoint or "-", response.status_code, extra={
                "http_method": request.method, "endpoint": request.endpoint or "-",
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
            })
        return response

    @app.teardown_request
    def _unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop("_log_context_token", None)
        if token is not None:
            try:
                _context.reset(token)
            except ValueError:  # set in another context (cannot happen in one request): just clear
                _context.set(None)


# ------------------------------------------------------------------ formatters

#: The only record attributes a JSON line carries besides time, level, logger and message.
EXTRA_FIELDS = ("request_id", "job", "http_method", "endpoint", "status", "duration_ms")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in EXTRA_FIELDS:
        value = getattr(record, key, None)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        out[key] = value[:100] if isinstance(value, str) else value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the ids, and the
    exception's redacted traceback."""

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line)


class TextFormatter(logging.Formatter):
    """The development format, with the request or job id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        ids = [f"{k}={getattr(record, k)}" for k in ("request_id", "job") if getattr(record, k, None)]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_helpdesk_redacting", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        context = _context.get()
        if context:
            for key, value in context.items():
                setattr(record, key, value)
        return record

    factory._helpdesk_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(app: Flask) -> None:
    settings = app.config["HELPDESK"]
    _install_record_factory()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler._helpdesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        if getattr(handler, "_helpdesk", False):
            handler.setFormatter(formatter_for(settings.log_format))
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    root.setLevel(settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # werkzeug's access log would print full URLs; keep the default but redacted.
    logging.getLogger("werkzeug").addFilter(RedactingFilter())
