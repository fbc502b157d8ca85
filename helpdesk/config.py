"""Typed configuration built from environment variables.

Nothing here runs at import time: ``Settings.from_env()`` is called by ``create_app``
when no explicit settings are given. Bad values fail fast with ``ConfigError``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

Environment = Literal["development", "testing", "production"]
ENVIRONMENTS: tuple[str, ...] = ("development", "testing", "production")

# Only ever used in development and testing; production refuses to start without a key.
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105
# A fictional (555) number for development and the demo; production must set its own.
DEV_HELPDESK_PHONE = "(555) 010-0100"


# Upper bounds of the sign-in session limits: configuration may shorten, never lengthen.
MAX_IDLE_MINUTES_STAFF = 15
MAX_IDLE_MINUTES_PATIENT = 30
MAX_SESSION_HOURS = 12


class ConfigError(RuntimeError):
    """A setting is missing or malformed."""


def _int(env: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


MIN_AUDIT_RETENTION_DAYS = 365


def default_instance_path() -> Path:
    return Path(__file__).resolve().parent.parent / "instance"


@dataclass(frozen=True)
class Settings:
    env: Environment = "production"
    secret_key: str = ""
    database_url: str = ""
    redis_url: str | None = None
    port: int = 5000
    external_url: str = "http://127.0.0.1:5000"  # production: https:// required (checked below)
    instance_path: Path = field(default_factory=default_instance_path)
    # routing decision (issue: routing)
    routing_threshold: float = 0.75
    routing_margin: float = 0.50
    # how often each process re-reads which model version is active (seconds)
    routing_model_recheck_seconds: float = 30.0
    # limits
    max_body_chars: int = 20_000
    max_subject_chars: int = 200
    max_request_bytes: int = 1_048_576
    login_rate_limit: str = "10 per minute;50 per hour"
    # every /api request, per bearer token (per address without one): flask-limiter notation
    api_rate_limit: str = "600 per minute"
    page_size: int = 25
    jobs_inline: bool = True
    # outgoing mail (helpdesk.notify.mail): no SMTP_HOST = mails are stored, not sent
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls | none
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 20.0
    mail_from: str = "Riverside Health Help Desk <helpdesk@localhost>"
    mail_reply_to: str | None = None
    mail_max_attempts: int = 6
    mail_retry_seconds: int = 60  # first back-off; doubles per attempt
    mail_per_address_per_hour: int = 10  # loop guard: at most this many mails to one address an hour
    # inbound mail, attachments, surveys
    inbound_token: str | None = None
    inbound_max_bytes: int = 26_214_400
    imap_host: str | None = None
    imap_port: int = 993
    imap_security: str = "tls"  # tls | starttls | none
    imap_username: str | None = None
    imap_password: str | None = None
    imap_folder: str = "INBOX"
    # where attachments and raw inbound mail are kept (helpdesk.storage): "database" (the
    # default: a table every host reads) or "filesystem" (STORAGE_DIR, a directory every
    # web host and worker mounts)
    storage_backend: str = "database"
    storage_dir: Path | None = None
    attachment_max_bytes: int = 10_485_760
    attachment_max_message_bytes: int = 20_971_520
    attachment_max_files: int = 5
    attachment_scanner: str | None = None  # "package.module:function"
    # ClamAV (helpdesk.clamav): clamd's unix socket path or host:port; unset = no scanner
    clamd_address: str | None = None
    clamd_timeout: float = 30.0
    csat_link_days: int = 14
    # audit log retention (helpdesk.audit.prune): 6 years by default, never less than one
    audit_retention_days: int = 2192
    # seconds a process keeps the SLA policies and calendars (0: read them for every ticket)
    sla_policy_cache_seconds: int = 5
    lookup_cache_seconds: int = 5
    # sign-in sessions (helpdesk.auth.sessions): idle timeouts and absolute lifetime.
    # The environment may only shorten them (HIPAA-minded defaults are the maxima).
    session_idle_minutes_staff: float = 15
    session_idle_minutes_patient: float = 30
    session_max_hours: float = 12
    session_warning_seconds: int = 120  # the page warns this long before the idle timeout
    # the site: its time zone (shift hours, dates shown) and the help desk's phone number,
    # shown to patients beside the 911 message (production must set HELPDESK_PHONE)
    site_timezone: str = "America/New_York"
    helpdesk_phone: str = DEV_HELPDESK_PHONE
    # clinical emergencies: minutes an alert may stay unacknowledged before it is escalated
    emergency_ack_minutes: int = 5
    # optional pager/SMS hook (helpdesk.clinical.pager): a signed POST per person alerted
    pager_webhook_url: str | None = None
    pager_webhook_secret: str | None = None
    # webhooks (helpdesk.webhooks): the waits before each retry of a failed delivery (one
    # retry per entry, then it is failed), the time one attempt may take, and whether
    # endpoints must be https:// (always so in production unless WEBHOOK_REQUIRE_HTTPS=0)
    webhook_retry_seconds: tuple[int, ...] = (10, 60, 300, 1800, 7200, 21600)
    webhook_timeout_seconds: float = 10.0
    webhook_require_https: bool = False
    # the periodic scheduler (helpdesk.periodic, `flask scheduler`): with Redis, one process
    # per deployment holds a lease of this many seconds (renewed every third of it); a
    # standby tries to take it every SCHEDULER_RETRY_SECONDS. PERIODIC_SCHEDULE names the
    # table it runs ("module:attribute"; tests point it at a short one).
    scheduler_lease_seconds: float = 30.0
    scheduler_retry_seconds: float = 5.0
    periodic_schedule: str = "helpdesk.periodic:SCHEDULE"
    # running on many hosts (docs/operations.md): proxies in front that append to
    # X-Forwarded-For (0 = none: the peer is the client), the /metrics bearer token,
    # prometheus_client's multiprocess directory (several gunicorn workers), log lines
    trusted_proxies: int = 0
    metrics_token: str | None = None
    prometheus_multiproc_dir: Path | None = None
    log_format: str = "json"  # json | text; from_env: json in production, text otherwise
    log_level: str = "INFO"
    # the patient portal's sign-in links (helpdesk.auth.portal): HMAC-SHA256 key (None: one
    # derived from SECRET_KEY) and how long a link works
    patient_link_secret: str | None = None
    patient_link_ttl_seconds: int = 120
    # staff single sign-on with the hospital's OpenID Connect provider (helpdesk.auth.sso,
    # docs/single-sign-on.md); off while oidc_issuer is None
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_provider_name: str = "hospital sign-in"  # the button: "Sign in with <name>"
    oidc_scopes: str = "openid email profile"
    oidc_groups_claim: str = "groups"
    # (group, role) and (group, queue slug) pairs, in the order given
    oidc_role_map: tuple[tuple[str, str], ...] = ()
    oidc_queue_map: tuple[tuple[str, str], ...] = ()
    # False: staff sign in through the provider only (local passwords refused for staff)
    oidc_staff_local_passwords: bool = True
    oidc_timeout: float = 10.0  # seconds for each call to the provider

    def __post_init__(self) -> None:
        """Production is served over TLS only: checked however the settings were built."""
        if self.env != "production":
            return
        if not self.secret_key or self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 16:
            raise ConfigError("SECRET_KEY must be set (at least 16 characters) in production")
        if not self.helpdesk_phone or self.helpdesk_phone == DEV_HELPDESK_PHONE:
            raise ConfigError("HELPDESK_PHONE must be set in production: the number patients are told to call")
        parsed = urlparse(self.external_url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ConfigError(f"EXTERNAL_URL must be an https:// address in production, got {self.external_url!r}: "
                              "the help desk is only served over TLS (HSTS, Secure cookies)")
        if self.oidc_issuer and urlparse(self.oidc_issuer).scheme != "https":
            raise ConfigError(f"OIDC_ISSUER must be an https:// address in production, got {self.oidc_issuer!r}")

    @property
    def sso_enabled(self) -> bool:
        """Staff single sign-on is configured (OIDC_ISSUER and the rest, checked at start-up)."""
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret and self.oidc_role_map)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        name = env.get("HELPDESK_ENV", "production").strip().lower()
        if name not in ENVIRONMENTS:
            raise ConfigError(f"HELPDESK_ENV must be one of {', '.join(ENVIRONMENTS)}, got {name!r}")
        instance = Path(env.get("HELPDESK_INSTANCE_PATH") or default_instance_path())
        secret = env.get("SECRET_KEY", "")
        if not secret:
            if name == "production":
                raise ConfigError("SECRET_KEY must be set outside development and testing")
            secret = DEV_SECRET_KEY
        elif name == "production" and len(secret) < 16:
            raise ConfigError("SECRET_KEY must be at least 16 characters in production")
        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'helpdesk.db'}"
        database_url = normalise_database_url(database_url)
        redis_url = env.get("REDIS_URL") or None
        if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"REDIS_URL must be a redis:// URL, got {redis_url!r}")
        external_url = env.get("EXTERNAL_URL") or ""
        if not external_url:
            if name == "production":
                raise ConfigError("EXTERNAL_URL must be set in production: the https:// address patients and "
                                  "staff reach the help desk at (links in e-mails use it)")
            external_url = f"http://127.0.0.1:{_int(env, 'PORT', 5000, 1, 65535)}"
        if urlparse(external_url).scheme not in ("http", "https"):
            raise ConfigError("EXTERNAL_URL must start with http:// or https://")
        site_timezone = (env.get("SITE_TIMEZONE") or "America/New_York").strip()
        try:
            ZoneInfo(site_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"SITE_TIMEZONE must be an IANA time zone such as America/New_York, "
                              f"got {site_timezone!r}") from None
        phone = (env.get("HELPDESK_PHONE") or "").strip()
        if not phone:
            if name == "production":
                raise ConfigError("HELPDESK_PHONE must be set in production: the number patients are told to call")
            phone = DEV_HELPDESK_PHONE
        elif len(phone) > 40:
            raise ConfigError("HELPDESK_PHONE must be at most 40 characters")
        pager_url = (env.get("PAGER_WEBHOOK_URL") or "").strip() or None
        pager_secret = env.get("PAGER_WEBHOOK_SECRET") or None
        if pager_url:
            if urlparse(pager_url).scheme not in ("http", "https") or not urlparse(pager_url).hostname:
                raise ConfigError("PAGER_WEBHOOK_URL must be an http:// or https:// address")
            if not pager_secret or len(pager_secret) < 16:
                raise ConfigError("PAGER_WEBHOOK_SECRET must be set (at least 16 characters) when "
                                  "PAGER_WEBHOOK_URL is: every page is signed with it")
        api_rate_limit = (env.get("API_RATE_LIMIT") or "600 per minute").strip()
        try:
            parse_many(api_rate_limit)
        except ValueError:
            raise ConfigError(f"API_RATE_LIMIT must be a rate such as '600 per minute', got {api_rate_limit!r}") from None
        return cls(
            env=name,  # type: ignore[arg-type]
            secret_key=secret,
            database_url=database_url,
            redis_url=redis_url,
            port=_int(env, "PORT", 5000, 1, 65535),
            external_url=external_url.rstrip("/"),
            instance_path=instance,
            routing_threshold=_float(env, "ROUTING_THRESHOLD", 0.75, 0.0, 1.0),
            routing_margin=_float(env, "ROUTING_MARGIN", 0.50, 0.0, 1.0),
            routing_model_recheck_seconds=_float(env, "ROUTING_MODEL_RECHECK_SECONDS", 30.0, 0.0, 60.0),
            page_size=_int(env, "PAGE_SIZE", 25, 5, 200),
            api_rate_limit=api_rate_limit,
            jobs_inline=redis_url is None,
            session_idle_minutes_staff=_int(env, "SESSION_IDLE_MINUTES_STAFF", MAX_IDLE_MINUTES_STAFF, 1,
                                            MAX_IDLE_MINUTES_STAFF),
            session_idle_minutes_patient=_int(env, "SESSION_IDLE_MINUTES_PATIENT", MAX_IDLE_MINUTES_PATIENT, 1,
                                              MAX_IDLE_MINUTES_PATIENT),
            session_max_hours=_int(env, "SESSION_MAX_HOURS", MAX_SESSION_HOURS, 1, MAX_SESSION_HOURS),
            audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 2192, MIN_AUDIT_RETENTION_DAYS, 36_500),
            # tests roll their rows back under the ORM's feet: they read the policies each time
            sla_policy_cache_seconds=_int(env, "SLA_POLICY_CACHE_SECONDS", 0 if name == "testing" else 5, 0, 300),
            # queues by slug, webhook subscriptions, API tokens (helpdesk.cache); likewise
            lookup_cache_seconds=_int(env, "LOOKUP_CACHE_SECONDS", 0 if name == "testing" else 5, 0, 300),
            site_timezone=site_timezone,
            helpdesk_phone=phone,
            emergency_ack_minutes=_int(env, "EMERGENCY_ACK_MINUTES", 5, 1, 120),
            pager_webhook_url=pager_url,
            pager_webhook_secret=pager_secret if pager_url else None,
            **_patient_link_settings(env),
            **_scheduler_settings(env),
            **_webhook_settings(env, name),
            **_observability_settings(env, name),
            **_oidc_settings(env, name),
            **_mail_settings(env),
        )

    @classmethod
    def for_testing(cls, **overrides: Any) -> Settings:
        """Settings for the test-suite: honours DATABASE_URL / REDIS_URL when given."""
        env = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}
        env["HELPDESK_ENV"] = "testing"
        base = cls.from_env(env)
        return replace(base, **overrides)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def flask_config(self) -> dict[str, Any]:
        secure = self.env == "production"
        return {
            "HELPDESK": self,
            "SECRET_KEY": self.secret_key,
            "TESTING": self.env == "testing",
            "DEBUG": False,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(self.database_url),
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": secure,
            "REMEMBER_COOKIE_SECURE": secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "WTF_CSRF_ENABLED": True,
            "WTF_CSRF_TIME_LIMIT": None,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_HEADERS_ENABLED": True,
            "API_TITLE": "Help desk API",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
        }


def _patient_link_settings(env: dict[str, str]) -> dict[str, Any]:
    secret = env.get("PATIENT_LINK_SECRET") or None
    if secret is not None and len(secret) < 32:
        raise ConfigError("PATIENT_LINK_SECRET must be at least 32 characters")
    return {"patient_link_secret": secret,
            "patient_link_ttl_seconds": _int(env, "PATIENT_LINK_TTL_SECONDS", 120, 10, 900)}


SMTP_SECURITY = ("starttls", "tls", "none")
_SCHEDULE_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _scheduler_settings(env: dict[str, str]) -> dict[str, Any]:
    lease = _float(env, "SCHEDULER_LEASE_SECONDS", 30.0, 2.0, 600.0)
    retry = _float(env, "SCHEDULER_RETRY_SECONDS", 5.0, 0.1, 60.0)
    if retry >= lease:
        raise ConfigError(f"SCHEDULER_RETRY_SECONDS must be shorter than SCHEDULER_LEASE_SECONDS "
                          f"({retry:g} >= {lease:g})")
    schedule = (env.get("PERIODIC_SCHEDULE") or "helpdesk.periodic:SCHEDULE").strip()
    if not _SCHEDULE_PATH.fullmatch(schedule):
        raise ConfigError(f"PERIODIC_SCHEDULE must be module:attribute, got {schedule!r}")
    return {"scheduler_lease_seconds": lease, "scheduler_retry_seconds": retry, "periodic_schedule": schedule}


OIDC_ROLES = ("agent", "supervisor", "admin")  # what a group may map to: staff roles only
_QUEUE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")  # as helpdesk.auth.services.SLUG_RE
_BOOLEAN = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _group_map(env: dict[str, str], name: str, allowed: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    """``group=value,group=value`` (a group may appear more than once; ``;`` also separates)."""
    raw = (env.get(name) or "").strip()
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in re.split(r"[,;\n]", raw))):
        group, sep, value = item.rpartition("=")
        group, value = group.strip(), value.strip()
        if not sep or not group or not value:
            raise ConfigError(f"{name} must be group=value pairs separated by commas, got {item!r}")
        if allowed is not None and value not in allowed:
            raise ConfigError(f"{name}: {group!r} maps to {value!r}; it must be one of {', '.join(allowed)}")
        if allowed is None and not _QUEUE_SLUG.match(value):
            raise ConfigError(f"{name}: {group!r} maps to {value!r}, which is not a queue slug")
        pairs.append((group, value))
    return tuple(pairs)


def _oidc_settings(env: dict[str, str], name: str) -> dict[str, Any]:
    issuer = (env.get("OIDC_ISSUER") or "").strip() or None  # exactly as the provider writes it in iss
    given = sorted(k for k in env if k.startswith("OIDC_") and env[k].strip())
    if issuer is None:
        if given:
            raise ConfigError(f"OIDC_ISSUER must be set when other OIDC_ settings are ({', '.join(given)})")
        return {}
    parsed = urlparse(issuer)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"OIDC_ISSUER must be the provider's https:// address, got {issuer!r}")
    if name == "production" and parsed.scheme != "https":
        raise ConfigError(f"OIDC_ISSUER must be an https:// address in production, got {issuer!r}")
    for required in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ROLE_MAP"):
        if not (env.get(required) or "").strip():
            raise ConfigError(f"{required} must be set when OIDC_ISSUER is")
    role_map = _group_map(env, "OIDC_ROLE_MAP", OIDC_ROLES)
    scopes = " ".join((env.get("OIDC_SCOPES") or "openid email profile").split())
    if "openid" not in scopes.split():
        raise ConfigError(f"OIDC_SCOPES must include openid, got {scopes!r}")
    local = (env.get("OIDC_STAFF_LOCAL_PASSWORDS") or "true").strip().lower()
    if local not in _BOOLEAN:
        raise ConfigError(f"OIDC_STAFF_LOCAL_PASSWORDS must be true or false, got {local!r}")
    provider_name = " ".join((env.get("OIDC_PROVIDER_NAME") or "hospital sign-in").split())
    if len(provider_name) > 60:
        raise ConfigError("OIDC_PROVIDER_NAME must be at most 60 characters")
    claim = (env.get("OIDC_GROUPS_CLAIM") or "groups").strip()
    return {
        "oidc_issuer": issuer,
        "oidc_client_id": env["OIDC_CLIENT_ID"].strip(),
        "oidc_client_secret": env["OIDC_CLIENT_SECRET"],
        "oidc_provider_name": provider_name,
        "oidc_scopes": scopes,
        "oidc_groups_claim": claim,
        "oidc_role_map": role_map,
        "oidc_queue_map": _group_map(env, "OIDC_QUEUE_MAP"),
        "oidc_staff_local_passwords": _BOOLEAN[local],
        "oidc_timeout": _float(env, "OIDC_TIMEOUT", 10.0, 1.0, 60.0),
    }


def _webhook_settings(env: dict[str, str], name: str) -> dict[str, Any]:
    raw = env.get("WEBHOOK_RETRY_SCHEDULE")  # set but empty: no retries
    raw = ("10,60,300,1800,7200,21600" if raw is None else raw).strip()
    try:
        waits = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"WEBHOOK_RETRY_SCHEDULE must be seconds separated by commas, got {raw!r}") from None
    if len(waits) > 20 or any(not 0 <= w <= 7 * 86_400 for w in waits):
        raise ConfigError("WEBHOOK_RETRY_SCHEDULE: at most 20 waits, each between 0 and 604800 seconds")
    https = (env.get("WEBHOOK_REQUIRE_HTTPS") or ("1" if name == "production" else "0")).strip().lower()
    if https not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"WEBHOOK_REQUIRE_HTTPS must be 1 or 0, got {https!r}")
    return {
        "webhook_retry_seconds": waits,
        "webhook_timeout_seconds": _float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0, 0.5, 60.0),
        "webhook_require_https": https in ("1", "true", "yes"),
    }


STORAGE_BACKENDS = ("database", "filesystem")


def parse_clamd_address(address: str) -> tuple[str, str | tuple[str, int]]:
    """``("unix", path)`` for a socket path (``/run/clamav/clamd.ctl``, ``unix:///…``),
    ``("tcp", (host, port))`` for ``host:port`` or ``tcp://host:port``; ValueError otherwise."""
    address = address.strip()
    if address.startswith("unix://"):
        address = address[len("unix://"):]
    if address.startswith("/"):
        return "unix", address
    if address.startswith("tcp://"):
        address = address[len("tcp://"):]
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be a unix socket path (/run/clamav/clamd.ctl) or host:port, got {address!r}")
    return "tcp", (host, int(port))


LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _observability_settings(env: dict[str, str], name: str) -> dict[str, Any]:
    token = env.get("METRICS_TOKEN") or None
    if token is not None and len(token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters")
    multiproc = env.get("PROMETHEUS_MULTIPROC_DIR") or None
    if multiproc is not None and not Path(multiproc).is_dir():
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR must be an existing directory, got {multiproc!r}")
    log_format = (env.get("LOG_FORMAT") or ("json" if name == "production" else "text")).strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    log_level = (env.get("LOG_LEVEL") or ("WARNING" if name == "testing" else "INFO")).strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    return {
        "trusted_proxies": _int(env, "TRUSTED_PROXIES", 0, 0, 10),
        "metrics_token": token,
        "prometheus_multiproc_dir": Path(multiproc) if multiproc else None,
        "log_format": log_format,
        "log_level": log_level,
    }


def _mail_settings(env: dict[str, str]) -> dict[str, Any]:
    security = (env.get("SMTP_SECURITY") or "starttls").strip().lower()
    if security not in SMTP_SECURITY:
        raise ConfigError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, got {security!r}")
    mail_from = env.get("MAIL_FROM") or "Riverside Health Help Desk <helpdesk@localhost>"
    if "@" not in mail_from:
        raise ConfigError("MAIL_FROM must contain an e-mail address")
    return {
        "smtp_host": env.get("SMTP_HOST") or None,
        "smtp_port": _int(env, "SMTP_PORT", 465 if security == "tls" else 587, 1, 65535),
        "smtp_security": security,
        "smtp_username": env.get("SMTP_USERNAME") or None,
        "smtp_password": env.get("SMTP_PASSWORD") or None,
        "smtp_timeout": _float(env, "SMTP_TIMEOUT", 20.0, 1.0, 300.0),
        "mail_from": mail_from,
        "mail_reply_to": env.get("MAIL_REPLY_TO") or None,
        "mail_max_attempts": _int(env, "MAIL_MAX_ATTEMPTS", 6, 1, 50),
        "mail_retry_seconds": _int(env, "MAIL_RETRY_SECONDS", 60, 1, 86_400),
        "mail_per_address_per_hour": _int(env, "MAIL_PER_ADDRESS_PER_HOUR", 10, 1, 10_000),
        **_inbound_settings(env),
    }


def _inbound_settings(env: dict[str, str]) -> dict[str, Any]:
    imap_security = (env.get("IMAP_SECURITY") or "tls").strip().lower()
    if imap_security not in SMTP_SECURITY:
        raise ConfigError(f"IMAP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, got {imap_security!r}")
    token = env.get("INBOUND_MAIL_TOKEN") or None
    if token is not None and len(token) < 16:
        raise ConfigError("INBOUND_MAIL_TOKEN must be at least 16 characters")
    scanner = env.get("ATTACHMENT_SCANNER") or None
    if scanner is not None and ":" not in scanner:
        raise ConfigError("ATTACHMENT_SCANNER must look like package.module:function")
    clamd_address = (env.get("CLAMD_ADDRESS") or "").strip() or None
    if clamd_address is not None:
        try:
            parse_clamd_address(clamd_address)
        except ValueError as exc:
            raise ConfigError(f"CLAMD_ADDRESS {exc}") from None
        if scanner is not None:
            raise ConfigError("Set CLAMD_ADDRESS or ATTACHMENT_SCANNER, not both: files are scanned by one scanner")
    backend = (env.get("STORAGE_BACKEND") or "database").strip().lower()
    if backend not in STORAGE_BACKENDS:
        raise ConfigError(f"STORAGE_BACKEND must be one of {', '.join(STORAGE_BACKENDS)}, got {backend!r}")
    storage_dir = (env.get("STORAGE_DIR") or "").strip()
    if backend == "filesystem" and not storage_dir:
        raise ConfigError("STORAGE_DIR must be set when STORAGE_BACKEND=filesystem: a directory that every "
                          "web host and worker mounts (the same files on all of them)")
    return {
        "inbound_token": token,
        "inbound_max_bytes": _int(env, "INBOUND_MAX_BYTES", 26_214_400, 1024, 1_073_741_824),
        "imap_host": env.get("IMAP_HOST") or None,
        "imap_port": _int(env, "IMAP_PORT", 143 if imap_security != "tls" else 993, 1, 65535),
        "imap_security": imap_security,
        "imap_username": env.get("IMAP_USERNAME") or None,
        "imap_password": env.get("IMAP_PASSWORD") or None,
        "imap_folder": env.get("IMAP_FOLDER") or "INBOX",
        "storage_backend": backend,
        "storage_dir": Path(storage_dir) if storage_dir else None,
        "attachment_max_bytes": _int(env, "ATTACHMENT_MAX_BYTES", 10_485_760, 1024, 1_073_741_824),
        "attachment_max_message_bytes": _int(env, "ATTACHMENT_MAX_MESSAGE_BYTES", 20_971_520, 1024, 1_073_741_824),
        "attachment_max_files": _int(env, "ATTACHMENT_MAX_FILES", 5, 1, 100),
        "attachment_scanner": scanner,
        "clamd_address": clamd_address,
        "clamd_timeout": _float(env, "CLAMD_TIMEOUT", 30.0, 0.5, 600.0),
        "csat_link_days": _int(env, "CSAT_LINK_DAYS", 14, 1, 365),
    }


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}

