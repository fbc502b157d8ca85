"""The patient's other recent requests on the agent ticket page (only those the agent may see)."""

from __future__ import annotations

from helpdesk.tickets import services
from helpdesk.tickets.models import Status
from tests.factories import login


def test_other_requests_of_the_patient_that_the_agent_may_see(client, ctx, agent, supervisor, queues, patient,
                                                              other_patient, make_ticket):
    current = make_ticket(subject="Current billing question")
    older = make_ticket(subject="Older billing question")
    services.update_ticket(older, actor=agent, status=Status.RESOLVED)
    hidden = make_ticket(subject="Moved away")
    services.update_ticket(hidden, actor=supervisor, queue_id=queues["general"].id, reason="Not billing")
    stranger = make_ticket(requester=other_patient, subject="Someone else's bill")
    login(client, agent)
    page = client.get(f"/agent/tickets/{current.reference}").get_data(as_text=True)
    side = page[page.index('id="pctx-h"'):]
    side = side[side.index("<ul"): side.index("</ul>")]
    assert older.reference in side and "Older billing question" in side and "Resolved" in side
    assert hidden.reference not in side  # in a queue the agent doesn't work
    assert stranger.reference not in side and current.reference not in side
    assert older.messages[0].body not in side  # titles and statuses only
    login(client, supervisor)
    page = client.get(f"/agent/tickets/{current.reference}").get_data(as_text=True)
    assert hidden.reference in page


def test_shortcut_help_is_on_list_and_ticket_pages(client, ctx, agent, make_ticket):
    t = make_ticket()
    login(client, agent)
    for url in ("/agent/tickets", f"/agent/tickets/{t.reference}"):
        page = client.get(url).get_data(as_text=True)
        assert 'id="shortcuts-help"' in page and "agent-shortcuts.js" in page
        assert "<script>" not in page  # CSP: no inline scripts
