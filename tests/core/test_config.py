"""Configuration is typed, validated and read from the environment at start-up."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk import create_app
from helpdesk.config import ConfigError, Settings
from helpdesk.extensions import db

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped


def test_production_requires_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"HELPDESK_ENV": "production"})


def test_development_has_working_defaults(tmp_path):
    s = Settings.from_env({"HELPDESK_ENV": "development", "HELPDESK_INSTANCE_PATH": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'helpdesk.db'}"
    assert s.redis_url is None and s.jobs_inline and s.port == 5000
    assert s.site_timezone == "America/New_York" and s.emergency_ack_minutes == 5
    assert s.helpdesk_phone.startswith("(555)")  # fictional: production must set its own


def test_site_settings_come_from_the_environment(tmp_path):
    s = Settings.from_env({"HELPDESK_ENV": "development", "HELPDESK_INSTANCE_PATH": str(tmp_path),
                           "SITE_TIMEZONE": "America/Chicago", "HELPDESK_PHONE": "+1 312 555 0142",
                           "EMERGENCY_ACK_MINUTES": "3"})
    assert (s.site_timezone, s.helpdesk_phone, s.emergency_ack_minutes) == ("America/Chicago", "+1 312 555 0142", 3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HELPDESK_ENV": "staging"}, "HELPDESK_ENV"),
        ({"HELPDESK_ENV": "development", "PORT": "eighty"}, "PORT"),
        ({"HELPDESK_ENV": "development", "PORT": "70000"}, "PORT"),
        ({"HELPDESK_ENV": "development", "REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"HELPDESK_ENV": "development", "ROUTING_THRESHOLD": "2"}, "ROUTING_THRESHOLD"),
        ({"HELPDESK_ENV": "production", "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"HELPDESK_ENV": "development", "SITE_TIMEZONE": "Mars/Olympus"}, "SITE_TIMEZONE"),
        ({"HELPDESK_ENV": "development", "EMERGENCY_ACK_MINUTES": "0"}, "EMERGENCY_ACK_MINUTES"),
        ({"HELPDESK_ENV": "development", "HELPDESK_PHONE": "9" * 41}, "HELPDESK_PHONE"),
        ({"HELPDESK_ENV": "development", "SCHEDULER_LEASE_SECONDS": "1"}, "SCHEDULER_LEASE_SECONDS"),
        ({"HELPDESK_ENV": "development", "SCHEDULER_LEASE_SECONDS": "10", "SCHEDULER_RETRY_SECONDS": "10"},
         "SCHEDULER_RETRY_SECONDS must be shorter"),
        ({"HELPDESK_ENV": "development", "PERIODIC_SCHEDULE": "helpdesk.periodic"}, "PERIODIC_SCHEDULE"),
        ({"HELPDESK_ENV": "development", "TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES"),
        ({"HELPDESK_ENV": "development", "TRUSTED_PROXIES": "one"}, "TRUSTED_PROXIES"),
        ({"HELPDESK_ENV": "development", "METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"HELPDESK_ENV": "development", "PROMETHEUS_MULTIPROC_DIR": "/nonexistent/prom"}, "PROMETHEUS_MULTIPROC_DIR"),
        ({"HELPDESK_ENV": "development", "LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"HELPDESK_ENV": "development", "LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"HELPDESK_ENV": "development", "PATIENT_LINK_SECRET": "short"}, "PATIENT_LINK_SECRET"),
        ({"HELPDESK_ENV": "development", "PATIENT_LINK_TTL_SECONDS": "5"}, "PATIENT_LINK_TTL_SECONDS"),
    ],
)
def test_bad_values_fail_fast(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_scheduler_settings_default_to_a_30_s_lease_and_a_5_s_retry(tmp_path):
    s = Settings.from_env({"HELPDESK_ENV": "development", "HELPDESK_INSTANCE_PATH": str(tmp_path)})
    assert (s.scheduler_lease_seconds, s.scheduler_retry_seconds) == (30.0, 5.0)
    assert s.periodic_schedule == "helpdesk.periodic:SCHEDULE"
    s = Settings.from_env({"HELPDESK_ENV": "development", "HELPDESK_INSTANCE_PATH": str(tmp_path),
                           "SCHEDULER_LEASE_SECONDS": "3", "SCHEDULER_RETRY_SECONDS": "0.5",
                           "PERIODIC_SCHEDULE": "tests.jobs.short_schedule:SCHEDULE"})
    assert (s.scheduler_lease_seconds, s.scheduler_retry_seconds) == (3.0, 0.5)
    assert s.periodic_schedule == "tests.jobs.short_schedule:SCHEDULE"


def test_observability_defaults(tmp_path):
    dev = Settings.from_env({"HELPDESK_ENV": "development", "HELPDESK_INSTANCE_PATH": str(tmp_path)})
    assert (dev.trusted_proxies, dev.metrics_token, dev.log_format, dev.log_level) == (0, None, "text", "INFO")
    prod = Settings.from_env({"HELPDESK_ENV": "production", "SECRET_KEY": "s" * 40, "HELPDESK_PHONE": "+1 212 555 0199",
                              "EXTERNAL_URL": "https://help.example.org", "HELPDESK_INSTANCE_PATH": str(tmp_path),
                              "TRUSTED_PROXIES": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert (prod.trusted_proxies, prod.log_format, prod.prometheus_multiproc_dir) == (2, "json", tmp_path)


def test_postgres_urls_use_psycopg3():
    s = Settings.from_env({"HELPDESK_ENV": "development", "DATABASE_URL": "postgresql://u@h/db"})
    assert s.database_url == "postgresql+psycopg://u@h/db"


def test_production_cookies_are_secure(tmp_path):
    s = Settings.from_env({"HELPDESK_ENV": "production", "SECRET_KEY": "x" * 32, "HELPDESK_INSTANCE_PATH": str(tmp_path),
                           "EXTERNAL_URL": "https://helpdesk.example", "HELPDESK_PHONE": "+1 212 555 0199"})
    app = create_app(s)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    resp = app.test_client().get("/login", base_url="https://helpdesk.example")
    assert "max-age=31536000" in resp.headers["Strict-Transport-Security"]


def test_creating_the_app_touches_no_database(tmp_path):
    s = Settings.from_env({"HELPDESK_ENV": "development", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                           "HELPDESK_INSTANCE_PATH": str(tmp_path)})
    app = create_app(s)  # the app is built although nothing listens at that address ...
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://nobody@127.0.0.1:1/none"
    with app.app_context():
        engine = db.engine
        assert engine.pool.checkedin() == 0 and engine.pool.checkedout() == 0  # ... and opened no connection
        with pytest.raises(sa.exc.OperationalError):  # (the first real use would have failed)
            engine.connect()
        engine.dispose()


def test_routing_defaults_match_the_classifiers_chosen_operating_point():
    from helpdesk.routing.classifier import DEFAULT_MARGIN, DEFAULT_THRESHOLD

    s = Settings.from_env({"HELPDESK_ENV": "development"})
    assert (s.routing_threshold, s.routing_margin) == (DEFAULT_THRESHOLD, DEFAULT_MARGIN)
