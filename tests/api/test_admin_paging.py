"""Every admin list of the API is paged by signed cursor like /api/v1/tickets: walking it
with a small limit (following ``Link``) returns every item exactly once, ties in the sort
broken by id; a cursor of another list or an edited one is a 422 on ``cursor``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from helpdesk.retention import services as retention
from helpdesk.sla import calendars, policy_admin
from helpdesk.sla.models import SlaCalendar, SlaPolicy
from tests.factories import bearer

SPEC = {"timezone": "America/Chicago", "hours": {"mon": [["08:00", "17:00"]]}, "holidays": [], "presets": []}
TARGETS = {"*": {"first_reply": {"seconds": 3600, "business": False}}}


@pytest.fixture
def admin_h(ctx, admin) -> dict[str, str]:
    _t, secret = accounts.create_api_token(actor=None, name="admin cli", user=admin)
    return bearer(secret)


def _walk(client, url: str, headers: dict[str, str], key: str = "id") -> tuple[list, int]:
    seen: list = []
    pages = 0
    while url:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert set(body) >= {"items", "next_cursor"}
        seen += [item[key] for item in body["items"]]
        pages += 1
        if body["next_cursor"] is None:
            assert "Link" not in resp.headers
            url = None
        else:
            link = resp.headers["Link"]
            assert link.endswith('>; rel="next"') and "limit=2" in link and body["next_cursor"] in link
            url = link[1:link.index(">")].replace("http://localhost", "")
    return seen, pages


def test_each_admin_list_walks_every_item_once(client, admin_h, admin, make_user, make_ticket, patient):
    for i in range(4):  # plus `patient`: 5 matching "walker"
        make_user(Role.PATIENT, name=f"Pat Walker{i}")
    patient.display_name = "Pat Walker"
    for _ in range(4):  # the same name: the id breaks the tie
        make_user(Role.AGENT, name="Sam Same")
    for name in ("Delta", "Alpha", "Echo", "Charlie", "Bravo"):
        calendars.create(actor_id=admin.id, name=name, spec=SPEC)
    for i in range(5):  # positions 10, 10, 10, 5, 5
        policy_admin.create_policy(actor_id=admin.id, data={"name": f"P{i}", "queue_id": None, "priority": None,
                                                              "channel": None, "position": 10 if i < 3 else 5,
                                                              "calendar_id": None, "warn_fraction": 0.75,
                                                              "active": True, "targets": TARGETS})
    for i in range(5):
        retention.place_hold(actor=admin, reason=f"Case {i}", ticket=make_ticket())
    db.session.commit()

    want = {
        "/api/v1/admin/patients?q=walker&limit=2":
            sorted(db.session.scalars(sa.select(User.id).where(User.display_name.like("Pat Walker%")))),
        "/api/v1/admin/users?limit=2":
            [u.id for u in accounts.staff_accounts()],
        "/api/v1/admin/calendars?limit=2":
            list(db.session.scalars(sa.select(SlaCalendar.id).order_by(SlaCalendar.name))),
        "/api/v1/admin/sla-policies?limit=2":
            list(db.session.scalars(sa.select(SlaPolicy.id).order_by(SlaPolicy.position, SlaPolicy.id))),
        "/api/v1/admin/retention/holds?limit=2":
            [h.id for h, _r, _e in retention.active_holds()],
    }
    for url, ids in want.items():
        seen, pages = _walk(client, url, admin_h)
        assert len(ids) >= 5, url
        assert seen == ids and len(set(seen)) == len(seen), url  # in the list's order, each once
        assert pages == (len(ids) + 1) // 2, url


def test_a_cursor_of_another_list_or_an_edited_one_is_a_422(client, admin_h, admin):
    for name in ("One", "Two", "Three"):
        calendars.create(actor_id=admin.id, name=name, spec=SPEC)
    cursor = client.get("/api/v1/admin/calendars?limit=1", headers=admin_h).get_json()["next_cursor"]
    assert cursor
    for url in ("/api/v1/admin/sla-policies", "/api/v1/admin/users", "/api/v1/admin/retention/holds",
                "/api/v1/admin/patients?q=x&", "/api/v1/admin/calendars"):
        sep = "" if url.endswith("&") else "?"
        bad = cursor if not url.endswith("calendars") else cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
        resp = client.get(f"{url}{sep}cursor={bad}", headers=admin_h)
        assert resp.status_code == 422 and list(resp.get_json()["error"]["fields"]) == ["cursor"], url
    for url in ("/api/v1/admin/users?limit=101", "/api/v1/admin/calendars?limit=0",
                "/api/v1/admin/retention/holds?limit=x", "/api/v1/admin/sla-policies?cursor="):
        assert client.get(url, headers=admin_h).status_code == 422, url
