"""Behind a reverse proxy (TRUSTED_PROXIES): the client's own address counts for rate
limits, sign-in lock-outs, audit rows and sign-in sessions; an X-Forwarded-For that no
trusted proxy wrote is ignored."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import AuthSession
from helpdesk.auth.password_models import AuthThrottle
from helpdesk.auth.throttle import IP
from helpdesk.extensions import db
from tests.factories import PASSWORD

PROXY = "10.0.0.5"  # the reverse proxy: every request reaches the app from it
MARIA = "198.51.100.7"
JOHN = "203.0.113.20"


def _via_proxy(client, data, client_address, *, extra_forwarded: str | None = None):
    """A POST /login as the proxy sends it: it appends the address it saw."""
    forwarded = f"{extra_forwarded}, {client_address}" if extra_forwarded else client_address
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": PROXY},
                       headers={"X-Forwarded-For": forwarded})


def _wrong(n: int) -> dict[str, str]:
    return {"email": f"nobody{n}@example.org", "password": "not the password"}


def _throttle_keys() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(AuthThrottle.key)))


def _ips(action: str) -> list[str | None]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent.ip).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def test_two_patients_behind_one_proxy_are_rate_limited_separately(app, ctx, client, configure, patient):
    configure(trusted_proxies=1, login_rate_limit="3 per minute")
    for n in range(3):
        assert _via_proxy(client, _wrong(n), MARIA).status_code == 200
    assert _via_proxy(client, _wrong(9), MARIA).status_code == 429  # Maria's fourth try
    john = _via_proxy(client, {"email": patient.email, "password": PASSWORD}, JOHN)
    assert john.status_code == 302  # John, through the same proxy, is not Maria


def test_two_patients_behind_one_proxy_are_locked_out_separately(app, ctx, client, configure, patient,
                                                                 other_patient):
    configure(trusted_proxies=1, login_rate_limit="1000 per minute")
    for n in range(IP.max_failures):  # many addresses tried from Maria's machine: her address locks
        _via_proxy(client, _wrong(n), MARIA)
    assert f"ip:{MARIA}" in _throttle_keys() and f"ip:{PROXY}" not in _throttle_keys()
    assert set(_ips("auth.sign_in_failed")) == {MARIA}

    locked = _via_proxy(client, {"email": patient.email, "password": PASSWORD}, MARIA)
    assert locked.status_code == 429
    john = _via_proxy(client, {"email": other_patient.email, "password": PASSWORD}, JOHN)
    assert john.status_code == 302
    assert _ips("auth.signed_in") == [JOHN]
    assert db.session.scalars(sa.select(AuthSession.ip)).all() == [JOHN]


def test_without_trusted_proxies_a_spoofed_forwarded_for_is_ignored(app, ctx, client, configure, patient):
    configure(trusted_proxies=0)
    resp = client.post("/login", data={"email": patient.email, "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "192.0.2.44"}, headers={"X-Forwarded-For": "1.2.3.4"})
    assert resp.status_code == 302
    app.test_client().post("/login", data=_wrong(1), environ_base={"REMOTE_ADDR": "192.0.2.45"},
                headers={"X-Forwarded-For": "1.2.3.4"})
    assert _ips("auth.signed_in") == ["192.0.2.44"]
    assert db.session.scalars(sa.select(AuthSession.ip)).all() == ["192.0.2.44"]
    assert "ip:192.0.2.45" in _throttle_keys() and "ip:1.2.3.4" not in _throttle_keys()


def test_with_one_proxy_an_entry_the_client_added_is_ignored(app, ctx, client, configure, patient):
    """The client sends its own X-Forwarded-For; the proxy appends the address it saw:
    only that last entry counts."""
    configure(trusted_proxies=1)
    resp = _via_proxy(client, {"email": patient.email, "password": PASSWORD}, MARIA, extra_forwarded="6.6.6.6")
    assert resp.status_code == 302
    assert _ips("auth.signed_in") == [MARIA]
    assert db.session.scalars(sa.select(AuthSession.ip)).all() == [MARIA]


def test_two_trusted_hops_take_the_address_the_outer_proxy_saw(app, ctx, client, configure, patient):
    configure(trusted_proxies=2)  # a load balancer, then nginx: each appends what it saw
    client.post("/login", data={"email": patient.email, "password": PASSWORD},
                environ_base={"REMOTE_ADDR": PROXY}, headers={"X-Forwarded-For": f"6.6.6.6, {MARIA}, 10.0.0.9"})
    assert _ips("auth.signed_in") == [MARIA]


def test_the_forwarded_headers_are_gone_once_resolved(make_app):
    """Nothing downstream can read a forwarded value the settings did not trust: the
    scheme and the address are only request.scheme and request.remote_addr."""
    seen: dict[str, object] = {}
    headers = {"X-Forwarded-For": f"6.6.6.6, {MARIA}", "X-Forwarded-Proto": "https"}
    for hops, expected in ((1, {"addr": MARIA, "scheme": "https", "route": [MARIA], "proto": None}),
                           (0, {"addr": PROXY, "scheme": "http", "route": [PROXY], "proto": None})):
        other = make_app(trusted_proxies=hops)

        @other.get("/_test/proxy-probe")
        def probe():
            seen.update(addr=request.remote_addr, scheme=request.scheme, route=list(request.access_route),
                        proto=request.headers.get("X-Forwarded-Proto"))
            return "ok"

        other.test_client().get("/_test/proxy-probe", environ_base={"REMOTE_ADDR": PROXY}, headers=headers)
        assert seen == expected
