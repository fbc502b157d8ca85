"""The supervisors' breach list pages through every breached (or at-risk) open clock:
no silent cut at the dashboard's first 50."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from helpdesk.sla import dashboard
from tests.factories import login


def _breached(make_policy, make_ticket, clock, n: int) -> list[str]:
    make_policy("Default", position=1000, first=600, nxt=600, resolution=36000, business=False)
    refs = []
    for _ in range(n):
        refs.append(make_ticket().reference)
        clock.advance(seconds=30)
    clock.advance(minutes=30)  # every first reply is overdue now
    return refs


def test_the_breach_list_pages_through_every_breached_clock(client, ctx, clock, configure, make_policy, make_ticket,
                                                            supervisor):
    configure(page_size=5)
    refs = _breached(make_policy, make_ticket, clock, 12)
    login(client, supervisor)
    seen: list[str] = []
    for page_no, shown in ((1, "1–5"), (2, "6–10"), (3, "11–12")):
        page = client.get(f"/supervisor/breaches?page={page_no}").get_data(as_text=True)
        assert f"Showing {shown} of 12 open SLA clocks breached now." in page and f"Page {page_no} of 3" in page
        assert re.search(r'>Breached <span class="count">12</span>', page)
        seen += re.findall(r'class="ref" href="/agent/tickets/(HD-\w+)"', page)
    assert sorted(seen) == sorted(refs)  # every one, once, the soonest due first
    assert seen[0] == refs[0]
    at_risk = client.get("/supervisor/breaches?state=at_risk").get_data(as_text=True)
    assert "No open SLA clock is at risk now." in at_risk
    dash = client.get("/supervisor/dashboard").get_data(as_text=True)
    assert "/supervisor/breaches?state=breached" in dash and "12 breached, 0 at risk" in dash


def test_the_dashboard_says_when_it_shows_only_the_first_ones_and_the_csv_has_all(ctx, clock, make_policy,
                                                                                    make_ticket):
    refs = _breached(make_policy, make_ticket, clock, 4)
    p = dashboard.Period(start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 3, 3, tzinfo=UTC))
    first = dashboard.at_risk(p, limit=3)
    assert first["breached"] == 4 and first["limit"] == 3 and len(first["tickets"]) == 3
    assert sorted(r["reference"] for r in dashboard.table("at_risk", p)) == sorted(refs)


def test_bad_breach_list_arguments_are_clear_4xx(client, ctx, clock, supervisor, agent):
    login(client, supervisor)
    assert client.get("/supervisor/breaches?state=everything").status_code == 422
    assert client.get("/supervisor/breaches?page=-1").status_code == 422
    assert client.get("/supervisor/breaches?page=abc").status_code == 422
    assert client.get("/supervisor/breaches?queue=no-such-queue").status_code == 404
    assert client.get("/supervisor/breaches?page=99").status_code == 200  # past the end: the last page
    login(client, agent)
    assert client.get("/supervisor/breaches").status_code == 403


def test_a_supervisor_sees_only_their_queues_breaches(client, ctx, clock, make_policy, make_ticket, make_user):
    _breached(make_policy, make_ticket, clock, 2)  # billing
    other = make_user("supervisor", member_of=("general",))
    login(client, other)
    page = client.get("/supervisor/breaches").get_data(as_text=True)
    assert "No open SLA clock is breached now." in page
    assert client.get("/supervisor/breaches?queue=billing").status_code == 404
