"""Admins search the audit log and export it; every export is itself audited."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from helpdesk import audit
from helpdesk.audit import AuditEvent
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.tickets import services
from tests.factories import login


def _rows(html: str) -> int:
    return html.count('<tr class="sev-')


@pytest.fixture
def history(make_ticket, agent, supervisor):
    ticket = make_ticket()
    services.record_staff_view(agent, ticket)
    services.record_staff_view(supervisor, ticket)
    services.post_message(ticket, author=agent, body="We are checking the charge.")
    return ticket


def test_admin_searches_by_user_ticket_action_and_dates(client, ctx, admin, agent, history, make_ticket):
    other = make_ticket()
    services.record_staff_view(agent, other)
    login(client, admin)
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "Audit log" in page.get_data(as_text=True)

    by_user = client.get("/admin/audit", query_string={"user": agent.email}).get_data(as_text=True)
    assert _rows(by_user) == db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.actor_id == agent.id))
    by_ticket = client.get("/admin/audit", query_string={"ticket": history.reference.lower()}).get_data(as_text=True)
    assert other.reference not in by_ticket and history.reference in by_ticket
    both = client.get("/admin/audit", query_string={"user": agent.email, "ticket": history.reference,
                                                    "action": "ticket.viewed"}).get_data(as_text=True)
    assert _rows(both) == 1
    prefix = client.get("/admin/audit", query_string={"action": "ticket.", "ticket": history.reference})
    assert _rows(prefix.get_data(as_text=True)) == db.session.scalar(
        sa.select(sa.func.count()).where(AuditEvent.object_id == history.reference))
    today = audit.utcnow().date().isoformat()
    assert _rows(client.get(f"/admin/audit?start={today}&end={today}&ticket={history.reference}")
                 .get_data(as_text=True)) > 0
    none = client.get("/admin/audit?start=2001-01-01&end=2001-01-31").get_data(as_text=True)
    assert "No events match" in none
    nobody = client.get("/admin/audit", query_string={"user": "nobody@example.org"}).get_data(as_text=True)
    assert "No events match" in nobody


def test_pages_are_keyset_paginated(client, ctx, admin):
    for i in range(120):
        audit.record("test.page", "test", i, actor_id=None)
    commit()
    login(client, admin)
    first = client.get("/admin/audit?action=test.page").get_data(as_text=True)
    assert _rows(first) == 50 and 'rel="next"' in first
    ids = db.session.scalars(sa.select(AuditEvent.id).where(AuditEvent.action == "test.page")
                             .order_by(AuditEvent.id.desc())).all()
    assert f"before={ids[49]}" in first
    second = client.get(f"/admin/audit?action=test.page&before={ids[49]}").get_data(as_text=True)
    third = client.get(f"/admin/audit?action=test.page&before={ids[99]}").get_data(as_text=True)
    assert _rows(second) == 50 and _rows(third) == 20 and 'rel="next"' not in third
    assert f"<td>{ids[50]}</td>" in second and f"<td>{ids[49]}</td>" not in second


@pytest.mark.parametrize("query", ["start=yesterday", "end=2026-13-01", "start=2026-03-02&end=2026-03-01",
                                   "before=abc", "before=-5", "action=" + "x" * 65])
def test_bad_filters_are_a_400_with_a_message(client, ctx, admin, query):
    login(client, admin)
    resp = client.get(f"/admin/audit?{query}")
    assert resp.status_code == 400 and 'role="alert"' in resp.get_data(as_text=True)
    # the export takes the filters (not the page cursor): a bad filter refuses it, unaudited
    assert client.get(f"/admin/audit.csv?{query}").status_code == (200 if query.startswith("before") else 400)
    exported = db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "audit.exported"))
    assert exported == (1 if query.startswith("before") else 0)


@pytest.mark.parametrize("who", ["supervisor", "agent", "patient"])
def test_only_admins_may_search_or_export(client, ctx, who, request):
    login(client, request.getfixturevalue(who))
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "audit.exported")) == 0


def test_signed_out_visitors_are_sent_to_sign_in(client, ctx):
    assert client.get("/admin/audit").status_code == 302


def test_the_csv_export_streams_the_filtered_result_and_is_audited(client, ctx, admin, agent, history):
    login(client, admin)
    resp = client.get("/admin/audit.csv", query_string={"ticket": history.reference, "user": agent.email})
    assert resp.status_code == 200 and resp.mimetype == "text/csv" and resp.is_streamed
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    expected = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.actor_id == agent.id, AuditEvent.object_id == history.reference).order_by(AuditEvent.id.desc())).all()
    assert [int(r["id"]) for r in rows] == [e.id for e in expected]
    assert {r["actor"] for r in rows} == {agent.email} and all(len(r["hash"]) == 64 for r in rows)
    exported = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit.exported"))
    assert exported.actor_id == admin.id
    assert exported.changes == {"filters": {"ticket": history.reference, "user": agent.email}}
    assert audit.verify().ok


def test_csv_cells_that_look_like_formulas_are_made_text(client, ctx, admin):
    audit.record("test.formula", "test", "=HYPERLINK(\"x\")", actor_id=None)
    commit()
    login(client, admin)
    body = client.get("/admin/audit.csv?action=test.formula").get_data(as_text=True)
    assert "'=HYPERLINK" in body


# ---------------------------------------------------------------- other exports are audited too


def _exports(kind: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == f"export.{kind}")))


def test_dashboard_exports_are_audited(client, ctx, supervisor, queues):
    login(client, supervisor)
    q = "period=custom&start=2026-03-02&end=2026-03-02"
    assert client.get(f"/supervisor/dashboard/daily.csv?{q}").status_code == 200
    assert client.get(f"/supervisor/dashboard/data.json?{q}").status_code == 200
    (csv_event,) = _exports("sla_dashboard_csv")
    assert csv_event.actor_id == supervisor.id and csv_event.changes["filters"]["table"] == "daily"
    assert csv_event.changes["filters"]["period"] == "custom"
    assert len(_exports("sla_dashboard_json")) == 1
    assert client.get("/supervisor/dashboard/data.json?period=bogus").status_code == 422
    assert len(_exports("sla_dashboard_json")) == 1  # a refused request exports nothing


def test_routing_and_kb_stats_exports_are_audited(client, ctx, supervisor):
    login(client, supervisor)
    assert client.get("/supervisor/routing/data.json").status_code == 200
    assert client.get("/kb/stats.json?days=30").status_code == 200
    assert len(_exports("routing_stats_json")) == 1 and len(_exports("kb_stats_json")) == 1
