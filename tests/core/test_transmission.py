"""Transmission security: outside development and testing the help desk is served over
TLS only — HSTS, Secure/HttpOnly/SameSite cookies — and refuses to start without a
SECRET_KEY or with an EXTERNAL_URL that is missing or not https://."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helpdesk import create_app
from helpdesk.config import ConfigError, Settings

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped

HTTPS_URL = "https://help.example.org"


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    return {"HELPDESK_ENV": "production", "SECRET_KEY": "s" * 40, "HELPDESK_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", "EXTERNAL_URL": HTTPS_URL,
            "HELPDESK_PHONE": "+1 212 555 0199", **extra}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"EXTERNAL_URL": ""}, "EXTERNAL_URL must be set in production"),
        ({"EXTERNAL_URL": "http://help.example.org"}, "EXTERNAL_URL must be an https:// address"),
        ({"EXTERNAL_URL": "https://"}, "EXTERNAL_URL must be an https:// address"),
        ({"EXTERNAL_URL": "ftp://help.example.org"}, "EXTERNAL_URL"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"HELPDESK_PHONE": ""}, "HELPDESK_PHONE must be set in production"),
    ],
)
def test_production_refuses_to_start_without_tls_settings(tmp_path, change, message):
    env = {name: value for name, value in production_env(tmp_path, **change).items() if value}  # "" = unset
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_settings_built_in_code_are_checked_too(tmp_path):
    good = Settings.from_env(production_env(tmp_path))
    assert good.external_url == HTTPS_URL
    with pytest.raises(ConfigError, match="https://"):
        replace(good, external_url="http://help.example.org")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        replace(good, secret_key="dev-only-not-secret")


@pytest.mark.parametrize("env", ["development", "testing"])
def test_development_and_testing_still_run_on_plain_http(tmp_path, env):
    s = Settings.from_env({"HELPDESK_ENV": env, "HELPDESK_INSTANCE_PATH": str(tmp_path)})
    assert s.external_url == "http://127.0.0.1:5000"
    app = create_app(s)
    resp = app.test_client().get("/login")
    assert "Strict-Transport-Security" not in resp.headers
    cookie = resp.headers.get("Set-Cookie", "")
    assert "Secure" not in cookie  # a local http:// browser must still get its session


def _session_cookie(resp) -> str:
    [cookie] = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_production_sends_hsts_and_locked_down_cookies(tmp_path):
    app = create_app(Settings.from_env(production_env(tmp_path)))
    resp = app.test_client().get("/login", base_url=HTTPS_URL)
    assert resp.status_code == 200
    hsts = resp.headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts
    attributes = [part.strip() for part in _session_cookie(resp).split(";")]
    assert "Secure" in attributes and "HttpOnly" in attributes and "SameSite=Lax" in attributes
    assert app.config["REMEMBER_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_HTTPONLY"]
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_hsts_behind_a_tls_terminating_proxy(tmp_path):
    """gunicorn sees plain http from the proxy; the proxy (TRUSTED_PROXIES=1) says the
    visitor used https."""
    app = create_app(Settings.from_env(production_env(tmp_path, TRUSTED_PROXIES="1")))
    client = app.test_client()
    behind_proxy = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "max-age=31536000" in behind_proxy.headers["Strict-Transport-Security"]
    assert "Secure" in _session_cookie(behind_proxy)


def test_a_forwarded_scheme_from_an_untrusted_peer_is_ignored(tmp_path):
    """Without TRUSTED_PROXIES nobody vouches for X-Forwarded-Proto: plain http stays
    plain http, for the HSTS header too (the same decision as the client's address)."""
    app = create_app(Settings.from_env(production_env(tmp_path)))
    direct = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert direct.status_code == 200
    assert "Strict-Transport-Security" not in direct.headers
