"""CSAT: the mail link works once, expires, needs no sign-in and shows nothing; one
answer per ticket; agents see it; good ÷ rated on the dashboard service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.notify import csat
from helpdesk.notify.models import CsatRating, CsatSurvey, OutgoingEmail
from helpdesk.sla import dashboard
from helpdesk.tickets import services as _tickets
from tests.factories import login
from tests.notify.conftest import Settled

tickets = Settled(_tickets)


def _resolved(make_ticket, agent, **kw):
    t = make_ticket(**kw)
    tickets.update_ticket(t, actor=agent, status="resolved")
    return t


def _link(t) -> str:
    m = db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.ticket_id == t.id, OutgoingEmail.kind == "survey")
                          .order_by(OutgoingEmail.id.desc()).limit(1))
    line = next(x for x in m.body.splitlines() if "/survey/" in x)
    return line[line.index("/survey/"):].strip()


def test_link_answers_once_without_sign_in(ctx, client, make_ticket, agent):
    t = _resolved(make_ticket, agent)
    url = _link(t)
    assert client.get(url).status_code == 200
    r = client.post(url, data={"rating": "good", "comment": "Quick and kind"})
    assert r.status_code == 200 and "Thank you" in r.get_data(as_text=True)
    survey = csat.survey_for(t)
    db.session.refresh(survey)
    assert survey.rating == CsatRating.GOOD and survey.comment == "Quick and kind" and survey.answered_via == "link"
    # single use
    assert client.get(url).status_code == 410
    assert client.post(url, data={"rating": "bad"}).status_code == 410
    db.session.refresh(survey)
    assert survey.rating == CsatRating.GOOD


def test_link_expires(ctx, client, make_ticket, agent):
    t = _resolved(make_ticket, agent)
    url = _link(t)
    survey = csat.survey_for(t)
    survey.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert client.get(url).status_code == 410
    assert client.post(url, data={"rating": "good"}).status_code == 410
    db.session.refresh(survey)
    assert survey.answered_at is None


def test_bad_links_and_bad_answers(ctx, client, make_ticket, agent):
    assert client.get("/survey/short").status_code == 404
    assert client.get("/survey/" + "x" * 43).status_code == 410
    t = _resolved(make_ticket, agent)
    url = _link(t)
    r = client.post(url, data={"rating": "meh"})
    assert r.status_code == 422
    r = client.post(url, data={"rating": "bad", "comment": "x" * 2001})
    assert r.status_code == 422
    assert csat.survey_for(t).answered_at is None


def test_one_answer_per_ticket_page_and_link(ctx, client, make_ticket, agent, patient, other_patient):
    t = _resolved(make_ticket, agent)
    url = _link(t)
    login(client, other_patient)
    assert client.post(f"/requests/{t.reference}/survey", data={"rating": "bad"}).status_code == 404
    login(client, agent)
    assert client.post(f"/requests/{t.reference}/survey", data={"rating": "bad"}).status_code == 403
    login(client, patient)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert "How did we do?" in page
    assert client.post(f"/requests/{t.reference}/survey", data={"rating": "bad", "comment": "Slow"}).status_code == 302
    assert "You told us: Bad" in client.get(f"/requests/{t.reference}").get_data(as_text=True)
    # the mail link is spent too, and a second page answer is refused
    client.get("/")  # (any request)
    assert client.post(url, data={"rating": "good"}).status_code == 410
    r = client.post(f"/requests/{t.reference}/survey", data={"rating": "good"},
                    headers={"Referer": f"/requests/{t.reference}"})
    assert r.status_code == 302  # friendly: flashed conflict
    survey = csat.survey_for(t)
    db.session.refresh(survey)
    assert survey.rating == CsatRating.BAD and survey.answered_via == "page"
    # agents see it on the ticket
    login(client, agent)
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "Satisfaction" in page and "<strong>Bad</strong>" in page and "Slow" in page


def test_not_asked_before_resolution(ctx, client, make_ticket, patient):
    t = make_ticket()
    login(client, patient)
    assert "How did we do?" not in client.get(f"/requests/{t.reference}").get_data(as_text=True)
    r = client.post(f"/requests/{t.reference}/survey", data={"rating": "good"})
    assert r.status_code == 409


def test_reopened_and_resolved_again_gets_a_new_link_unless_answered(ctx, client, make_ticket, agent, patient):
    t = _resolved(make_ticket, agent)
    first = _link(t)
    tickets.post_message(t, author=patient, body="Actually, one more thing")  # reopens
    tickets.update_ticket(t, actor=agent, status="resolved")
    second = _link(t)
    assert first != second
    assert client.get(first).status_code == 410 and client.get(second).status_code == 200
    client.post(second, data={"rating": "good"})
    tickets.post_message(t, author=patient, body="And another")
    tickets.update_ticket(t, actor=agent, status="resolved")
    assert _link(t) == second  # answered: no new survey mail
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CsatSurvey)) == 1


def test_csat_figure_and_dashboard(ctx, client, make_ticket, agent, supervisor, make_user):
    from helpdesk.auth.models import Role

    ratings = ["good", "good", "bad"]
    for r in ratings:
        t = _resolved(make_ticket, agent, requester=make_user(Role.PATIENT))
        client.post(_link(t), data={"rating": r})
    _resolved(make_ticket, agent, requester=make_user(Role.PATIENT))  # asked, not answered
    figure = csat.csat()
    assert figure == {"rated": 3, "good": 2, "bad": 1, "csat_pct": pytest.approx(66.7)}
    assert csat.csat(queue_ids=set())["rated"] == 0 and csat.csat(queue_ids=set())["csat_pct"] is None
    now = datetime.now(UTC)
    period = dashboard.Period(start=now - timedelta(days=1), end=now + timedelta(days=1))
    assert dashboard.figure("csat", period)["csat_pct"]["current"] == pytest.approx(66.7)
    login(client, supervisor)
    assert client.get("/supervisor/dashboard/csat.json").json["rated"]["current"] == 3
    assert "CSAT" in client.get("/supervisor/dashboard").get_data(as_text=True)
