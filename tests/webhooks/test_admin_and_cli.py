"""The admin pages and the `flask webhooks` commands: every change audited, the secret
shown once, the delivery log and replay; bad input refused with a message."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.config import ConfigError, Settings
from helpdesk.extensions import db
from helpdesk.webhooks import services, signing
from helpdesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.factories import login


def _actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("webhook.%"))
                                   .order_by(AuditEvent.id)))


def _secret_in(html: str) -> str | None:
    found = re.search(r'<code class="secret">(whsec_[A-Za-z0-9_-]+)</code>', html)
    return found.group(1) if found else None


def test_admin_pages_are_for_admins(ctx, client, agent, supervisor, admin):
    endpoint, _ = services.create_endpoint(actor=admin, url="https://example.org/hook", events=["ticket.created"])
    for user, expected in ((agent, 403), (supervisor, 403), (admin, 200)):
        login(client, user)
        assert client.get("/admin/webhooks").status_code == expected
        assert client.get(f"/admin/webhooks/{endpoint.id}").status_code == expected
    assert client.get("/admin/webhooks/999").status_code == 404
    login(client, agent)
    assert client.post("/admin/webhooks", data={"url": "https://evil.example/", "events": ["ticket.created"]}
                       ).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 1


def test_create_edit_rotate_on_the_admin_pages(ctx, client, admin, receiver, make_ticket):
    login(client, admin)
    page = client.post("/admin/webhooks", data={"url": receiver.url("/bed"), "description": "Bed management",
                                                 "events": ["ticket.created", "ticket.assigned"], "active": "y"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    secret = _secret_in(html)
    endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
    assert secret == endpoint.secret and endpoint.events == ["ticket.assigned", "ticket.created"]
    assert endpoint.active and not endpoint.allow_phi  # PHI is off unless ticked
    # shown once: neither the list nor the endpoint's page shows it again
    assert secret not in client.get("/admin/webhooks").get_data(as_text=True)
    assert secret not in client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    # edit: PHI on, one event
    resp = client.post(f"/admin/webhooks/{endpoint.id}", data={"url": receiver.url("/bed"), "description": "Beds",
                                                               "events": ["ticket.created"], "allow_phi": "y",
                                                               "active": "y"})
    assert resp.status_code == 302
    db.session.refresh(endpoint)
    assert endpoint.allow_phi and endpoint.events == ["ticket.created"] and endpoint.description == "Beds"
    rotated = client.post(f"/admin/webhooks/{endpoint.id}/rotate-secret")
    new_secret = _secret_in(rotated.get_data(as_text=True))
    db.session.refresh(endpoint)
    assert new_secret and new_secret != secret and endpoint.secret == new_secret
    assert _actions() == ["webhook.created", "webhook.updated", "webhook.secret_rotated"]
    updated = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "webhook.updated"))
    assert updated.actor_id == admin.id and updated.changes["allow_phi"] == {"before": False, "after": True}
    assert updated.severity == "warning"
    # no secret in any audit row
    assert not any("whsec_" in str(e.changes) for e in db.session.scalars(sa.select(AuditEvent)))
    # the delivery log
    receiver.secrets["/bed"] = new_secret
    t = make_ticket()
    html = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "ticket.created" in html and "delivered" in html and "200" in html
    assert receiver.requests[-1].signature_ok and t.reference in receiver.requests[-1].body.decode()


def test_bad_input_is_refused_with_a_message_and_nothing_changes(ctx, client, admin, configure):
    login(client, admin)
    for data, message in (
        ({"url": "ftp://example.org/x", "events": ["ticket.created"]}, "Only http:// and https://"),
        ({"url": "javascript:alert(1)", "events": ["ticket.created"]}, "Only http:// and https://"),
        ({"url": "https://user:pw@example.org/x", "events": ["ticket.created"]}, "no user name or password"),
        ({"url": "https://example.org/x", "events": ["ticket.exploded"]}, "Unknown event"),
        ({"url": "https://example.org/x"}, "Choose at least one event"),
        ({"url": "", "events": ["ticket.created"]}, ""),
    ):
        resp = client.post("/admin/webhooks", data=data)
        assert resp.status_code == 422, data
        assert message in resp.get_data(as_text=True)
    with configure(webhook_require_https=True):
        resp = client.post("/admin/webhooks", data={"url": "http://example.org/x", "events": ["ticket.created"]})
        assert resp.status_code == 422 and "must be https://" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 0 and _actions() == []
    endpoint, _ = services.create_endpoint(actor=admin, url="https://example.org/x", events=["ticket.created"])
    resp = client.post(f"/admin/webhooks/{endpoint.id}", data={"url": "gopher://x", "events": ["ticket.created"],
                                                               "active": "y"})
    assert resp.status_code == 422
    db.session.refresh(endpoint)
    assert endpoint.url == "https://example.org/x"


def test_replay_from_the_admin_page(ctx, client, admin, receiver, configure, make_ticket):
    configure(webhook_retry_seconds=())  # no retries: the first failure is final
    endpoint, secret = services.create_endpoint(actor=admin, url=receiver.url("/r"), events=["ticket.created"])
    receiver.secrets["/r"] = secret
    receiver.plan["/r"] = [500]
    make_ticket()
    d = db.session.scalars(sa.select(WebhookDelivery)).one()
    db.session.refresh(d)
    assert d.status == DeliveryStatus.FAILED
    login(client, admin)
    assert "Replay" in client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    resp = client.post(f"/admin/webhooks/{endpoint.id}/deliveries/{d.id}/replay", follow_redirects=True)
    assert resp.status_code == 200
    db.session.refresh(d)
    from tests.factories import run_jobs

    run_jobs()
    db.session.refresh(d)
    assert d.status == DeliveryStatus.DELIVERED and d.response_code == 200
    assert [r.answered for r in receiver.at("/r")] == [500, 200]
    assert _actions() == ["webhook.created", "webhook.delivery_replayed"]
    # another endpoint's delivery id: not found
    other, _ = services.create_endpoint(actor=admin, url="https://example.org/o", events=["ticket.created"])
    assert client.post(f"/admin/webhooks/{other.id}/deliveries/{d.id}/replay").status_code == 404


def test_the_cli(app, ctx, receiver):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["webhooks", "create", "--url", receiver.url("/cli"), "--event", "ticket.created",
                              "--description", "Bed management"])
    assert out.exit_code == 0, out.output
    secret = out.output.strip().splitlines()[-1]
    endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
    assert secret.startswith("whsec_") and endpoint.secret == secret
    listed = runner.invoke(args=["webhooks", "list"]).output
    assert receiver.url("/cli") in listed and secret not in listed and "no-PHI" in listed
    assert runner.invoke(args=["webhooks", "update", str(endpoint.id), "--phi", "--event", "csat.received",
                               "--event", "ticket.created"]).exit_code == 0
    db.session.refresh(endpoint)
    assert endpoint.allow_phi and endpoint.events == ["csat.received", "ticket.created"]
    rotated = runner.invoke(args=["webhooks", "rotate-secret", str(endpoint.id)]).output.strip().splitlines()[-1]
    db.session.refresh(endpoint)
    assert rotated.startswith("whsec_") and rotated != secret and endpoint.secret == rotated
    assert runner.invoke(args=["webhooks", "disable", str(endpoint.id)]).exit_code == 0
    db.session.refresh(endpoint)
    assert not endpoint.active
    bad = runner.invoke(args=["webhooks", "create", "--url", "file:///etc/passwd", "--event", "ticket.created"])
    assert bad.exit_code != 0 and "Only http:// and https://" in bad.output
    assert runner.invoke(args=["webhooks", "update", "999", "--inactive"]).exit_code != 0
    assert runner.invoke(args=["webhooks", "replay", "999"]).exit_code != 0
    assert "0 deliveries shown" in runner.invoke(args=["webhooks", "deliveries", str(endpoint.id)]).output
    assert runner.invoke(args=["webhooks", "sweep"]).exit_code == 0
    assert "ticket.created" in runner.invoke(args=["webhooks", "events"]).output
    assert _actions() == ["webhook.created", "webhook.updated", "webhook.secret_rotated", "webhook.updated"]


def test_settings():
    s = Settings.from_env({"HELPDESK_ENV": "development", "WEBHOOK_RETRY_SCHEDULE": "5, 30,600"})
    assert s.webhook_retry_seconds == (5, 30, 600) and not s.webhook_require_https
    assert s.webhook_timeout_seconds == 10.0
    assert Settings.from_env({"HELPDESK_ENV": "development", "WEBHOOK_RETRY_SCHEDULE": ""}).webhook_retry_seconds == ()
    assert Settings.from_env({"HELPDESK_ENV": "development"}).webhook_retry_seconds == (10, 60, 300, 1800, 7200, 21600)
    prod = Settings.from_env({"HELPDESK_ENV": "production", "SECRET_KEY": "x" * 32, "EXTERNAL_URL": "https://hd.example",
                              "HELPDESK_PHONE": "(555) 123-4567"})
    assert prod.webhook_require_https
    for bad in ({"WEBHOOK_RETRY_SCHEDULE": "ten"}, {"WEBHOOK_RETRY_SCHEDULE": "-1"},
                {"WEBHOOK_TIMEOUT_SECONDS": "600"}, {"WEBHOOK_REQUIRE_HTTPS": "maybe"}):
        with pytest.raises(ConfigError):
            Settings.from_env({"HELPDESK_ENV": "development", **bad})


@pytest.mark.pure
def test_the_signature_scheme():
    body = b'{"a":1}'
    header = signing.signature_header("whsec_k", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert signing.verify("whsec_k", header, body, now=1_700_000_100)
    assert not signing.verify("whsec_k", header, body + b" ", now=1_700_000_100)
    assert not signing.verify("whsec_other", header, body, now=1_700_000_100)
    assert not signing.verify("whsec_k", header, body, now=1_700_000_000 + 301)  # too old: a replayed request
    assert not signing.verify("whsec_k", "garbage", body, now=1_700_000_000)
