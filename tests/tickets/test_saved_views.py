"""Saved views: personal and shared filter + sort combinations on the ticket list."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.errors import Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.tickets import saved_views, services
from helpdesk.tickets.models import Priority
from helpdesk.tickets.workspace_models import SavedView
from tests.factories import count, login


def test_save_and_use_a_personal_view(client, ctx, agent, make_ticket):
    urgent = make_ticket(subject="Urgent statement")
    calm = make_ticket(subject="Calm statement")
    services.update_ticket(urgent, actor=agent, priority=Priority.URGENT)
    login(client, agent)
    resp = client.post("/agent/views", data={"name": "My urgent", "scope": "personal", "priority": "urgent",
                                             "sort": "oldest", "cursor": "ignored", "bogus": "x"})
    assert resp.status_code == 302
    view = db.session.scalar(sa.select(SavedView))
    assert view.args == {"priority": "urgent", "sort": "oldest"} and view.owner_id == agent.id
    page = client.get("/agent/tickets").get_data(as_text=True)
    assert "My urgent" in page and "personal" in page
    listed = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert urgent.reference in listed and calm.reference not in listed
    assert 'aria-current="page"' in listed


def test_shared_views_per_queue(ctx, agent, supervisor, outsider_agent):
    shared = saved_views.save_view(actor=supervisor, name="Billing new", scope="billing", args={"queue": "billing",
                                                                                                "status": "new"})
    mine = saved_views.save_view(actor=agent, name="Mine", scope="personal", args={"assignee": "mine"})
    assert [v.name for v in saved_views.visible_views(agent)] == ["Mine", "Billing new"]
    assert [v.name for v in saved_views.visible_views(outsider_agent)] == []
    assert [v.name for v in saved_views.visible_views(supervisor)] == ["Billing new"]
    with pytest.raises(Forbidden):
        saved_views.save_view(actor=agent, name="Share", scope="billing", args={"status": "new"})
    with pytest.raises(Forbidden):
        saved_views.delete_view(shared, actor=agent)
    with pytest.raises(NotFound):
        saved_views.get_view(outsider_agent, shared.id)
    with pytest.raises(NotFound):
        saved_views.get_view(supervisor, mine.id)
    with pytest.raises(ValidationFailed):
        saved_views.save_view(actor=agent, name="Bad", scope="personal", args={"status": "bogus"})
    with pytest.raises(ValidationFailed):
        saved_views.save_view(actor=agent, name="Nothing", scope="personal", args={})
    with pytest.raises(ValidationFailed):
        saved_views.save_view(actor=agent, name="  ", scope="personal", args={"status": "new"})
    saved_views.delete_view(shared, actor=supervisor)
    assert count(SavedView) == 1


def test_saved_view_endpoints_triad(client, ctx, agent, patient, supervisor, make_user):
    login(client, patient)
    assert client.post("/agent/views", data={"name": "x", "status": "new"}).status_code == 403
    login(client, agent)
    client.post("/agent/views", data={"name": "Mine", "status": "new"})
    view = db.session.scalar(sa.select(SavedView))
    assert client.post("/agent/views", data={"name": "Shared", "scope": "billing", "status": "new"}).status_code == 403
    resp = client.post("/agent/views", data={"name": "Bad", "status": "nope"})
    assert resp.status_code == 422
    login(client, patient)
    assert client.post(f"/agent/views/{view.id}/delete").status_code == 403
    login(client, supervisor)
    assert client.post(f"/agent/views/{view.id}/delete").status_code == 404
    login(client, agent)
    assert client.post(f"/agent/views/{view.id}/delete").status_code == 302
    assert count(SavedView) == 0
