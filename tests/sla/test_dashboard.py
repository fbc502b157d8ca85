"""Dashboard figures against a hand-computed fixture, and who may see them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.sla import dashboard, rollup
from helpdesk.sla import services as sla
from helpdesk.sla.dashboard import Period
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status
from tests.factories import login

DAY = datetime(2026, 3, 2, tzinfo=UTC)
CUSTOM = "period=custom&start=2026-03-02&end=2026-03-02"


@pytest.fixture
def scenario(ctx, clock, make_policy, make_ticket, agent):
    """14:00 three billing requests (calendar-time targets: first reply 1 h, resolution 10 h).
    T1 answered 14:30, resolved 15:00; T2 answered and resolved 16:00 (first reply late);
    T3 never answered: its first reply breaches at 15:00 (sweep at 17:00)."""
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    t1, t2, t3 = make_ticket(), make_ticket(), make_ticket()
    clock.advance(minutes=30)
    tickets.post_message(t1, author=agent, body="Refund on its way.")
    clock.advance(minutes=30)
    tickets.update_ticket(t1, actor=agent, status="resolved")
    clock.advance(hours=1)
    tickets.post_message(t2, author=agent, body="Corrected.", next_status=Status.RESOLVED)
    clock.advance(hours=1)
    sla.sweep()
    return t1, t2, t3


@pytest.mark.parametrize("materialised", [False, True], ids=["live", "summary-tables"])
def test_dashboard_numbers_match_the_hand_computed_fixture(scenario, clock, materialised):
    p = Period(start=DAY, end=DAY + timedelta(days=1))
    if materialised:  # the next day, after the rollup job: the same numbers from the summary tables
        clock.advance(days=1)
        assert rollup.refresh() == 1
        assert rollup.plan(p.start, p.end) == ([DAY.date()], [])
    s = dashboard.summary(p)
    assert (s["created"], s["solved"]) == (3, 2)
    assert s["first_reply"] == {"n": 2, "median_seconds": 1800.0, "p90_seconds": 7200.0}
    assert s["resolution"] == {"n": 2, "median_seconds": 3600.0, "p90_seconds": 7200.0}
    assert s["attainment_pct"] == 60.0  # 3 achieved, 2 breached
    assert (s["reopen_rate_pct"], s["one_touch_pct"]) == (0.0, 100.0)
    assert dashboard.daily(p) == [{"day": "2026-03-02", "created": 3, "solved": 2, "backlog": 1}]
    att = {r["metric"]: r for r in dashboard.attainment(p)["by_metric"]}
    assert (att["first_reply"]["achieved"], att["first_reply"]["breached"]) == (1, 2)
    assert att["first_reply"]["attainment_pct"] == 33.3 and att["resolution"]["attainment_pct"] == 100.0
    risk = dashboard.at_risk(p)
    # "now", not the period, by the clock at read time: a day later T3's 10-hour resolution
    # clock is overdue, so it is breached although no sweep has run since
    assert (risk["breached"], risk["at_risk"]) == ((2, 0) if materialised else (1, 0))
    assert risk["tickets"][0]["reference"] == scenario[2].reference
    (row,) = dashboard.agents(p)
    assert (row["solved"], row["first_replies"], row["avg_first_reply_seconds"]) == (2, 2, 4500.0)
    ad = dashboard.adoption(p)
    assert ad["portal_share_pct"] == 100.0 and ad["patients_served"] == 1 and ad["by_channel"]["web"] == 3
    prev = dashboard.summary(p.previous())
    assert (prev["created"], prev["solved"], prev["attainment_pct"]) == (0, 0, None)
    cmp = dashboard.figure("summary", p)
    assert cmp["created"] == {"current": 3, "previous": 0, "change": 3}


def test_the_dashboard_holds_no_patient_names_or_message_text(scenario, client, supervisor, patient):
    login(client, supervisor)
    for url in ("/supervisor/dashboard", "/supervisor/dashboard/data.json", "/supervisor/dashboard/at_risk.csv"):
        body = client.get(f"{url}?{CUSTOM}").get_data(as_text=True)
        assert patient.display_name not in body and "Refund on its way" not in body
        assert "charged twice" not in body and "Question about my bill" not in body


def test_csv_cells_a_spreadsheet_would_run_as_formulas_open_as_text(scenario, client, supervisor, agent):
    """An agent's display name is text someone typed: in the CSV it must not start a formula."""
    agent.display_name = '=HYPERLINK("http://evil.example","pay here")'
    db.session.commit()
    login(client, supervisor)
    body = client.get(f"/supervisor/dashboard/agents.csv?{CUSTOM}").get_data(as_text=True)
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["agent"] == "'" + agent.display_name  # shown as text, not run
    assert row["solved"] == "2"  # numbers stay numbers


def _endpoints() -> list[str]:
    urls = ["/supervisor/dashboard", "/supervisor/dashboard/data.json"]
    urls += [f"/supervisor/dashboard/{n}.json" for n in dashboard.FIGURES]
    urls += [f"/supervisor/dashboard/{n}.csv" for n in dashboard.TABLES]
    urls += ["/supervisor/dashboard/volume.svg", "/supervisor/dashboard/attainment.svg"]
    return urls


@pytest.mark.parametrize("url", _endpoints())
def test_every_dashboard_endpoint_supervisor_200_agent_and_patient_403(scenario, client, url, supervisor, agent,
                                                                        patient, admin):
    for user, status in ((supervisor, 200), (admin, 200), (agent, 403), (patient, 403)):
        login(client, user)
        assert client.get(f"{url}?{CUSTOM}").status_code == status, (user.role, url)


def test_another_queues_supervisor_sees_only_their_queues(scenario, client, make_user):
    other = make_user(Role.SUPERVISOR, member_of=("scheduling",))
    login(client, other)
    data = client.get(f"/supervisor/dashboard/data.json?{CUSTOM}").get_json()
    assert data["summary"]["created"]["current"] == 0 and data["at_risk"]["tickets"] == []
    assert data["agents"] == [] and data["daily"][0]["created"] == 0
    assert client.get(f"/supervisor/dashboard/data.json?{CUSTOM}&queue=billing").status_code == 404
    assert client.get(f"/supervisor/dashboard/data.json?{CUSTOM}&queue=scheduling").status_code == 200


def test_the_queue_filter_and_csv_export(scenario, client, supervisor):
    login(client, supervisor)
    data = client.get(f"/supervisor/dashboard/data.json?{CUSTOM}&queue=billing").get_json()
    assert data["summary"]["created"]["current"] == 3
    csv = client.get(f"/supervisor/dashboard/daily.csv?{CUSTOM}")
    assert csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).splitlines() == ["day,created,solved,backlog", "2026-03-02,3,2,1"]
    assert client.get("/supervisor/dashboard/data.json?period=bogus").status_code == 422
    assert client.get("/supervisor/dashboard/nothing.json").status_code == 404


def test_the_chart_is_an_svg_image_with_its_own_policy(scenario, client, supervisor):
    login(client, supervisor)
    r = client.get(f"/supervisor/dashboard/volume.svg?{CUSTOM}")
    assert r.mimetype == "image/svg+xml" and b"<svg" in r.data
    assert "'unsafe-inline'" in r.headers["Content-Security-Policy"]
    page = client.get(f"/supervisor/dashboard?{CUSTOM}")
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]


def test_backlog_is_open_tickets_at_the_end_of_each_day(ctx, clock, make_policy, make_ticket, agent):
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    a, _b = make_ticket(), make_ticket()
    clock.advance(days=1)
    tickets.update_ticket(a, actor=agent, status="resolved")
    make_ticket()
    clock.advance(days=1)
    p = Period(start=DAY - timedelta(days=1), end=DAY + timedelta(days=3))
    assert [(r["created"], r["solved"], r["backlog"]) for r in dashboard.daily(p)] == [
        (0, 0, 0), (2, 0, 2), (1, 1, 2), (0, 0, 2)]
