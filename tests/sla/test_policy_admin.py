"""SLA policy editor and queue settings: versions, preview, validation, pages, API, CLI."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.sla import calendars, policy_admin
from helpdesk.sla.models import Metric, SlaMetric, SlaPolicy, SlaPolicyVersion, TicketSla
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Assignment, Priority
from tests.factories import bearer, login
from tests.sla.conftest import MONDAY_9AM

HOUR = 3600


def _data(queues, first=HOUR, nxt=2 * HOUR, resolution=10 * HOUR, **over):
    data = {"name": "Billing SLA", "queue_id": queues["billing"].id, "priority": None, "channel": None,
            "position": 10, "calendar_id": None, "warn_fraction": 0.75, "active": True,
            "targets": {"*": {"first_reply": {"seconds": first, "business": True},
                              "next_reply": {"seconds": nxt, "business": True},
                              "resolution": {"seconds": resolution, "business": True}}}}
    return {**data, **over}


def _metric(ticket, metric: Metric, cycle: int = 1) -> SlaMetric:
    return db.session.scalars(sa.select(SlaMetric).where(SlaMetric.ticket_id == ticket.id, SlaMetric.metric == metric,
                                                         SlaMetric.cycle == cycle)).one()


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ----------------------------------------------------------------------------- versions


def test_a_ticket_keeps_the_version_it_started_under(clock, queues, admin, agent, patient, make_ticket):
    policy = policy_admin.create_policy(actor_id=admin.id, data=_data(queues))
    old = make_ticket()
    ts = db.session.get(TicketSla, old.id)
    assert (ts.policy_id, ts.policy_version) == (policy.id, 1)
    first_due = _metric(old, Metric.FIRST_REPLY).due_at
    resolution_due = _metric(old, Metric.RESOLUTION).due_at
    assert first_due == MONDAY_9AM.replace(hour=15)  # 1 business hour

    clock.advance(minutes=10)
    policy_admin.update_policy(actor_id=admin.id, policy=policy,
                               data=_data(queues, first=4 * HOUR, nxt=5 * HOUR, resolution=20 * HOUR))
    assert policy.version == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaPolicyVersion)
                             .where(SlaPolicyVersion.policy_id == policy.id)) == 2
    # the old ticket's clocks are unchanged, also after something re-evaluates its policy
    tickets.update_ticket(old, actor=agent, priority=Priority.HIGH.value)
    db.session.refresh(ts)
    assert ts.policy_version == 1
    assert _metric(old, Metric.FIRST_REPLY).due_at == first_due
    assert _metric(old, Metric.RESOLUTION).due_at == resolution_due
    # its next-reply cycle takes version 1's 2-hour target, not version 2's 5 hours
    tickets.post_message(old, author=agent, body="We are checking.")
    tickets.post_message(old, author=patient, body="Thanks, any news?")
    assert _metric(old, Metric.NEXT_REPLY).target_seconds == 2 * HOUR

    new = make_ticket()
    assert db.session.get(TicketSla, new.id).policy_version == 2
    assert _metric(new, Metric.FIRST_REPLY).target_seconds == 4 * HOUR
    assert _metric(new, Metric.FIRST_REPLY).due_at == clock.now.replace(hour=18, minute=10)


def test_only_conditions_changed_is_no_new_version(clock, queues, admin):
    policy = policy_admin.create_policy(actor_id=admin.id, data=_data(queues))
    policy_admin.update_policy(actor_id=admin.id, policy=policy, data=_data(queues, position=20))
    assert policy.version == 1
    with pytest.raises(ValidationFailed, match="Nothing changed"):
        policy_admin.update_policy(actor_id=admin.id, policy=policy, data=_data(queues, position=20))
    changes = _events("sla_policy.updated")[-1].changes
    assert changes == {"position": {"before": 10, "after": 20}}


def test_warning_lead_sets_the_warning_time(clock, queues, admin, make_ticket):
    data = _data(queues)
    data["targets"]["*"]["first_reply"]["warn_before"] = 15 * 60
    policy_admin.create_policy(actor_id=admin.id, data=data)
    t = make_ticket()
    row = _metric(t, Metric.FIRST_REPLY)
    assert row.due_at == MONDAY_9AM.replace(hour=15)
    assert row.warn_at == MONDAY_9AM.replace(hour=14, minute=45)


# ----------------------------------------------------------------------------- preview


def test_the_preview_gives_the_due_times_a_saved_policy_then_gives(clock, queues, admin, make_ticket):
    older = make_ticket()  # a sample ticket under today's (built-in) policy
    clock.advance(hours=1)
    data = _data(queues, first=3 * HOUR, resolution=12 * HOUR)
    data["targets"]["*"]["resolution"]["business"] = False
    rows = policy_admin.preview(data)
    assert not db.session.scalar(sa.select(SlaPolicy.id))  # nothing saved
    sample = {(r.label, r.metric): r for r in rows if r.label == older.reference}
    assert sample[(older.reference, "first_reply")].draft == MONDAY_9AM.replace(hour=17)
    assert sample[(older.reference, "first_reply")].current == _metric(older, Metric.FIRST_REPLY).due_at
    now_rows = {r.metric: r for r in rows if r.label == "New ticket now" and r.priority == "normal"}

    policy_admin.create_policy(actor_id=admin.id, data=data)
    new = make_ticket()
    assert _metric(new, Metric.FIRST_REPLY).due_at == now_rows["first_reply"].draft
    assert _metric(new, Metric.RESOLUTION).due_at == now_rows["resolution"].draft
    assert now_rows["resolution"].draft == clock.now.replace(hour=3) + __import__("datetime").timedelta(days=1)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "name"),
    ({"queue_id": 99999}, "queue_id"),
    ({"priority": "whenever"}, "priority"),
    ({"calendar_id": 99999}, "calendar_id"),
    ({"warn_fraction": 1.5}, "warn_fraction"),
    ({"targets": {}}, "targets"),
    ({"targets": {"high": {"first_reply": {"seconds": 10}}}}, "targets.high.first_reply.seconds"),
    ({"targets": {"high": {"first_reply": {"seconds": 3600, "warn_before": 3600}}}},
     "targets.high.first_reply.warn_before"),
    ({"targets": {"soon": {"first_reply": {"seconds": 3600}}}}, "targets.soon"),
])
def test_validation_names_the_field(ctx, queues, admin, change, field):
    with pytest.raises(ValidationFailed) as err:
        policy_admin.create_policy(actor_id=admin.id, data=_data(queues, **change))
    assert field in err.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaPolicy)) == 0


# ----------------------------------------------------------------------------- pages


def _form(queues, **over):
    form = {"name": "Billing SLA", "queue_id": str(queues["billing"].id), "priority": "", "channel": "",
            "position": "10", "calendar_id": "", "warn_percent": "75", "active": "y",
            "t_any_first_reply_hours": "1", "t_any_first_reply_time": "business",
            "t_any_resolution_hours": "10", "t_any_resolution_time": "business", "action": "save"}
    return {**form, **over}


def test_editor_page_preview_then_save_then_edit(clock, client, queues, admin):
    login(client, admin)
    assert client.get("/admin/sla-policies").status_code == 200
    assert client.get("/admin/sla-policies/new").status_code == 200
    resp = client.post("/admin/sla-policies/new", data=_form(queues, action="preview"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="preview"' in html and "New ticket now" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaPolicy)) == 0
    resp = client.post("/admin/sla-policies/new", data=_form(queues))
    assert resp.status_code == 302
    policy = db.session.scalars(sa.select(SlaPolicy)).one()
    assert policy.targets == {"*": {"first_reply": {"seconds": 3600, "business": True},
                                    "resolution": {"seconds": 36000, "business": True}}}
    assert len(_events("sla_policy.created")) == 1
    resp = client.post(f"/admin/sla-policies/{policy.id}", data=_form(queues, t_high_first_reply_hours="0.5",
                                                                     t_high_first_reply_warn="10"))
    assert resp.status_code == 302
    db.session.refresh(policy)
    assert policy.version == 2
    assert policy.targets["high"] == {"first_reply": {"seconds": 1800, "business": True, "warn_before": 600}}
    page = client.get(f"/admin/sla-policies/{policy.id}").get_data(as_text=True)
    assert 'value="0.5"' in page and "version 2" in page


@pytest.mark.parametrize(("change", "message"), [
    ({"t_any_first_reply_hours": "soon"}, "Write the target in hours"),
    ({"t_any_first_reply_warn": "90"}, "less than the target"),
    ({"t_high_resolution_warn": "5"}, "Give the target for this warning"),
    ({"warn_percent": "150"}, "A share of the target"),
    ({"name": ""}, "This field is required"),
])
def test_editor_refuses_bad_fields_with_a_message_and_saves_nothing(clock, client, queues, admin, change, message):
    login(client, admin)
    resp = client.post("/admin/sla-policies/new", data=_form(queues, **change))
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaPolicy)) == 0


@pytest.mark.parametrize("who", ["agent", "supervisor"])
def test_staff_other_than_admins_get_403(client, queues, request, who, admin):
    policy = policy_admin.create_policy(actor_id=admin.id, data=_data(queues))
    login(client, request.getfixturevalue(who))
    for path in ("/admin/sla-policies", "/admin/sla-policies/new", f"/admin/sla-policies/{policy.id}",
                 f"/admin/queues/{queues['billing'].id}/settings"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/sla-policies/new", data=_form(queues)).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaPolicy)) == 1


def test_ticket_page_shows_the_policy_version_and_each_clock(clock, client, queues, admin, agent, make_ticket):
    policy_admin.create_policy(actor_id=admin.id, data=_data(queues))
    t = make_ticket()
    agent.timezone = "Europe/Madrid"
    db.session.commit()
    login(client, agent)
    html = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    panel = html[html.index('id="sla-policy"'):html.index("</details>", html.index('id="sla-policy"'))]
    assert "Billing SLA" in panel and 'id="sla-policy-version">1<' in panel
    assert "Target 1h 00m in business time" in panel
    assert "America/New_York" in panel  # the calendar's zone
    assert "Times in Europe/Madrid" in panel
    assert "Mar 02, 2026 04:00 PM".replace(" 0", " ") in panel  # 15:00 UTC due, in Madrid


# ----------------------------------------------------------------------------- queue settings


def test_queue_settings_page_saves_everything_with_audit(clock, client, queues, admin, make_ticket):
    cal = calendars.create(actor_id=admin.id, name="Round the clock",
                           spec={"timezone": "UTC", "hours": {d: [["00:00", "24:00"]] for d in
                                                              ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    default = policy_admin.create_policy(actor_id=admin.id, data=_data(queues, name="Any queue", queue_id=None))
    billing = queues["billing"]
    login(client, admin)
    assert client.get(f"/admin/queues/{billing.id}/settings").status_code == 200
    resp = client.post(f"/admin/queues/{billing.id}/settings", data={
        "name": "Billing office", "name_es": "Facturación", "calendar_id": str(cal.id),
        "default_policy_id": str(default.id), "assignment": "round_robin", "active": "y"})
    assert resp.status_code == 302
    db.session.refresh(billing)
    assert (billing.name, billing.assignment) == ("Billing office", Assignment.ROUND_ROBIN)
    settings = policy_admin.queue_settings(billing)
    assert (settings["name_es"], settings["calendar_id"], settings["default_policy_id"]) == (
        "Facturación", cal.id, default.id)
    changes = _events("queue.updated")[-1].changes
    assert set(changes) == {"name", "name_es", "calendar_id", "default_policy_id", "assignment"}
    assert _events("i18n.name_set")
    # the default policy applies, on the queue's calendar (the policy names none): 1 h from 09:00 NY
    t = make_ticket()
    ts = db.session.get(TicketSla, t.id)
    assert ts.policy_id == default.id
    assert _metric(t, Metric.FIRST_REPLY).calendar_id == cal.id
    # refused: a bad choice, nothing changed
    resp = client.post(f"/admin/queues/{billing.id}/settings", data={
        "name": "Billing office", "name_es": "", "calendar_id": "99999", "default_policy_id": "",
        "assignment": "manual", "active": "y"})
    assert resp.status_code == 422
    assert "Choose an existing calendar" in resp.get_data(as_text=True)
    db.session.refresh(billing)
    assert billing.assignment == Assignment.ROUND_ROBIN


# ----------------------------------------------------------------------------- API


def test_api_create_list_edit_preview_and_queue_settings(clock, client, queues, admin, agent, supervisor):
    from helpdesk.auth import services as accounts

    _t, secret = accounts.create_api_token(actor=None, name="admin api", user=admin)
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent api", user=agent)
    _t, sup_secret = accounts.create_api_token(actor=None, name="sup api", user=supervisor)
    data = _data(queues)
    resp = client.post("/api/v1/admin/sla-policies", json=data, headers=bearer(secret))
    assert resp.status_code == 201, resp.get_json()
    pid = resp.get_json()["id"]
    assert resp.get_json()["version"] == 1
    assert client.get("/api/v1/admin/sla-policies", headers=bearer(secret)).get_json()["items"][0]["id"] == pid
    edited = _data(queues, first=2 * HOUR)
    resp = client.put(f"/api/v1/admin/sla-policies/{pid}", json=edited, headers=bearer(secret))
    assert resp.status_code == 200 and resp.get_json()["version"] == 2
    assert [e.actor_id for e in _events("sla_policy.created") + _events("sla_policy.updated")] == [admin.id] * 2
    resp = client.post("/api/v1/admin/sla-policies/preview", json=edited, headers=bearer(secret))
    assert resp.status_code == 200 and resp.get_json()["rows"]
    bad = _data(queues, targets={"*": {"first_reply": {"seconds": 5}}})
    resp = client.put(f"/api/v1/admin/sla-policies/{pid}", json=bad, headers=bearer(secret))
    assert resp.status_code == 422
    assert "targets.*.first_reply.seconds" in resp.get_json()["error"]["fields"]
    assert client.post("/api/v1/admin/sla-policies", json={**data, "extra": 1}, headers=bearer(secret)).status_code == 422
    assert client.post("/api/v1/admin/sla-policies", json=data, headers=bearer(secret)).status_code == 409
    assert client.get("/api/v1/admin/sla-policies/99999", headers=bearer(secret)).status_code == 404
    for s in (agent_secret, sup_secret):
        assert client.get("/api/v1/admin/sla-policies", headers=bearer(s)).status_code == 403
        assert client.post("/api/v1/admin/sla-policies", json=data, headers=bearer(s)).status_code == 403
    assert client.get("/api/v1/admin/sla-policies").status_code == 401
    billing = queues["billing"].id
    resp = client.get(f"/api/v1/admin/queues/{billing}/settings", headers=bearer(secret))
    assert resp.status_code == 200
    body = {k: v for k, v in resp.get_json().items() if k not in ("id", "slug")}
    resp = client.put(f"/api/v1/admin/queues/{billing}/settings", headers=bearer(secret),
                      json={**body, "assignment": "least_loaded", "default_policy_id": pid})
    assert resp.status_code == 200 and resp.get_json()["assignment"] == "least_loaded"
    assert _events("queue.updated")[-1].changes["assignment"] == {"before": "manual", "after": "least_loaded"}
    assert client.put(f"/api/v1/admin/queues/{billing}/settings", headers=bearer(agent_secret),
                      json=body).status_code == 403


# ----------------------------------------------------------------------------- CLI


def test_cli_lists_shows_and_saves(app, clock, queues, admin, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(_data(queues)))
    result = runner.invoke(args=["sla", "policy-save", str(path)])
    assert result.exit_code == 0, result.output
    pid = int(re.search(r"policy (\d+)", result.output).group(1))
    assert "version 1" in result.output
    shown = runner.invoke(args=["sla", "policy-show", str(pid)])
    spec = json.loads(shown.output)
    spec["targets"]["*"]["first_reply"]["seconds"] = 2 * HOUR
    path.write_text(json.dumps(spec))
    result = runner.invoke(args=["sla", "policy-save", str(path), "--id", str(pid)])
    assert result.exit_code == 0 and "version 2" in result.output, result.output
    assert "Billing SLA\tv2" in runner.invoke(args=["sla", "policies"]).output
    path.write_text(json.dumps({**spec, "warn_fraction": 3}))
    result = runner.invoke(args=["sla", "policy-save", str(path), "--id", str(pid)])
    assert result.exit_code == 1 and "warn_fraction" in result.output
    assert [e.actor_id for e in _events("sla_policy.updated")] == [None]


def test_preview_of_a_policy_for_every_queue_compares_with_the_policies_for_every_queue(clock, queues, admin):
    policy_admin.create_policy(actor_id=admin.id, data=_data(queues, name="Everywhere", queue_id=None, position=500))
    rows = policy_admin.preview(_data(queues, name="Draft", queue_id=None, first=2 * HOUR))
    now_rows = [r for r in rows if r.label == "New ticket now" and r.metric == "first_reply"]
    assert {r.current_name for r in now_rows} == {"Everywhere"}
    assert {r.current for r in now_rows} == {MONDAY_9AM.replace(hour=15)}
    assert {r.draft for r in now_rows} == {MONDAY_9AM.replace(hour=16)}
