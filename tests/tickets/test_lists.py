"""The agent ticket list: open tickets by default, views with counts, a total with
numbered pages, sortable columns, times in the viewer's zone."""

from __future__ import annotations

import re

from helpdesk.tickets import queries, services
from helpdesk.tickets.models import Priority, Status
from tests.factories import login


def _count(page: str, label: str) -> str:
    found = re.search(rf">{re.escape(label)} <span class=\"count\">([^<]+)</span>", page)
    assert found, f"no view {label!r}"
    return found.group(1)


def test_open_tickets_by_default_with_a_count_per_view(client, ctx, agent, make_ticket):
    new, mine, closed = make_ticket(), make_ticket(), make_ticket(subject="Parking garage receipt")
    services.update_ticket(mine, actor=agent, assignee_id=agent.id)
    services.update_ticket(closed, actor=agent, status=Status.CLOSED)
    login(client, agent)

    page = client.get("/agent/tickets").get_data(as_text=True)
    assert new.reference in page and mine.reference in page and closed.reference not in page
    assert "Showing 1–2 of 2 tickets." in page
    assert [_count(page, v) for v in ("Open", "My open tickets", "Unassigned", "Resolved &amp; closed", "All")] == \
        ["2", "1", "1", "1", "3"]
    assert '<option value="active" selected>Open (not resolved)</option>' in page

    everything = client.get("/agent/tickets?status=any").get_data(as_text=True)
    assert closed.reference in everything and "of 3 tickets" in everything
    done = client.get("/agent/tickets?status=done").get_data(as_text=True)
    assert closed.reference in done and new.reference not in done
    my_list = client.get("/agent/tickets?status=active&assignee=mine").get_data(as_text=True)
    assert mine.reference in my_list and new.reference not in my_list and "of 1 tickets" in my_list
    # a search looks at every status unless one is chosen
    found = client.get("/agent/tickets?q=parking garage").get_data(as_text=True)
    assert closed.reference in found
    assert closed.reference not in client.get("/agent/tickets?q=parking garage&status=active").get_data(as_text=True)


def test_an_empty_open_list_offers_the_closed_ones(client, ctx, agent, make_ticket):
    t = make_ticket()
    services.update_ticket(t, actor=agent, status=Status.RESOLVED)
    login(client, agent)
    page = client.get("/agent/tickets").get_data(as_text=True)
    assert "No tickets match these filters." in page and "Include resolved and closed tickets" in page
    assert t.reference in client.get("/agent/tickets?status=any").get_data(as_text=True)


def test_pages_are_numbered_against_a_total(client, ctx, configure, agent, make_ticket):
    configure(page_size=5)
    made = [make_ticket().reference for _ in range(7)]
    login(client, agent)
    first = client.get("/agent/tickets").get_data(as_text=True)
    assert "Showing 1–5 of 7 tickets." in first and "Page 1 of 2" in first and "First page" not in first
    next_link = re.search(r'href="([^"]+)">Next page', first).group(1).replace("&amp;", "&")
    second = client.get(next_link).get_data(as_text=True)
    assert "Showing 6–7 of 7 tickets." in second and "Page 2 of 2" in second and "First page" in second
    assert "Next page" not in second
    seen = {r for r in made if r in first} | {r for r in made if r in second}
    assert seen == set(made)


def test_counts_stop_at_the_cap_and_say_so(client, ctx, monkeypatch, agent, make_ticket):
    for _ in range(4):
        make_ticket()
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    login(client, agent)
    page = client.get("/agent/tickets").get_data(as_text=True)
    assert "of 3+ tickets" in page and _count(page, "Open") == "3+"
    assert "Page 1</span>" in page  # no "of N" when the total is not known exactly


def test_column_headers_sort_the_list_on_the_server(client, ctx, agent, make_ticket):
    low, urgent = make_ticket(), make_ticket()
    services.update_ticket(urgent, actor=agent, priority=Priority.URGENT)
    services.update_ticket(low, actor=agent, priority=Priority.LOW)
    login(client, agent)
    page = client.get("/agent/tickets").get_data(as_text=True)
    assert re.search(r'<th scope="col" aria-sort="descending">\s*<a href="[^"]*sort=oldest', page)  # Created
    assert 'href="/agent/tickets?sort=priority"' in page and 'href="/agent/tickets?sort=due"' in page
    by_priority = client.get("/agent/tickets?sort=priority").get_data(as_text=True)
    assert by_priority.index(urgent.reference) < by_priority.index(low.reference)
    assert re.search(r'aria-sort="descending">\s*<a href="/agent/tickets\?sort=priority">Priority', by_priority)
    oldest = client.get("/agent/tickets?sort=oldest").get_data(as_text=True)
    assert oldest.index(low.reference) < oldest.index(urgent.reference)
    resp = client.get("/agent/tickets?sort=subject;drop")
    assert resp.status_code == 422 and "Some filters are not valid." in resp.get_data(as_text=True)


def test_list_times_are_relative_with_the_absolute_time_in_the_viewers_zone(client, ctx, agent, make_ticket):
    t = make_ticket()
    login(client, agent)
    page = client.get("/agent/tickets").get_data(as_text=True)
    assert "Times in America/New_York." in page
    stamp = re.search(rf'<time datetime="{re.escape(t.created_at.isoformat())}" title="([^"]+)">([^<]+)</time>', page)
    assert stamp and stamp.group(1).endswith("(America/New_York)")
    assert stamp.group(2) in ("now", "1 second ago") or stamp.group(2).endswith("ago")
