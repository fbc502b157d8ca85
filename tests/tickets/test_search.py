"""Ticket search: reference, patient, text in any order, English/Spanish stems, accents,
typos in names; internal notes only for staff; permissions in the query; filters combine;
snippets escaped. On SQLite (FTS5) by default, on PostgreSQL (tsvector, pg_trgm) with
DATABASE_URL: the same tests, the same results."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.permissions import get_visible_ticket
from helpdesk.tickets import saved_views, services
from helpdesk.tickets.models import Priority, Status
from helpdesk.tickets.queries import TicketFilters, ticket_list
from tests.conftest import ROOT
from tests.factories import bearer, login

BILL = "I was charged twice for my visit on the statement, please check the billing charge."


def _refs(page: str) -> set[str]:
    return set(re.findall(r'class="ref">(HD-[A-Z0-9]{6})<', page))


def _api_refs(client, secret: str, **args) -> list[str]:
    resp = client.get("/api/v1/tickets", query_string=args, headers=bearer(secret))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [t["reference"] for t in resp.get_json()["items"]]


def _search(user, q: str, **filters) -> list[str]:
    rows, _ = ticket_list(user, TicketFilters(q=q, sort=filters.pop("sort", "relevance"), **filters))
    return [t.reference for t in rows]


def test_the_three_searches_of_the_issue_on_the_agent_page_and_the_api(client, ctx, make_user, agent, make_ticket):
    maria = make_user(Role.PATIENT, name="María Fernández")
    ticket = make_ticket(requester=maria)
    services.post_message(ticket, author=agent, body=(
        "Thanks for writing. We checked the statement: the second charge is a pre-authorisation that your "
        "bank releases within five days. Your cardiology referral is on file too."))
    other = make_ticket(requester=make_user(Role.PATIENT, name="Peter Johnson"))
    code = ticket.reference.removeprefix("HD-")
    _t, secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    login(client, agent)
    for q in ("fernandes", "Fernandez", "maria fernandes", code.lower(), ticket.reference,
              "referral releases", "bank cardiology"):
        assert _refs(client.get("/agent/tickets", query_string={"q": q}).get_data(as_text=True)) == {ticket.reference}, q
        assert _api_refs(client, secret, q=q) == [ticket.reference], q
    # a typo in the other patient's surname (a transposition: two edits in seven letters)
    assert _api_refs(client, secret, q="jonhson") == [other.reference]
    assert _api_refs(client, secret, q="xylophone") == []
    # the best match first: the reference beats a text match
    make_ticket(subject=f"About {code}", body=BILL)
    assert _api_refs(client, secret, q=code)[0] == ticket.reference


def test_spanish_and_english_stems_and_accents(client, ctx, make_user, supervisor, make_ticket):
    rosa = make_user(Role.PATIENT, name="Rosa Díaz")
    es = make_ticket(requester=rosa, queue=None, subject="Cambio de cita",
                     body="Necesito cambiar mi cita médica del próximo martes por la mañana.")
    en = make_ticket(subject="Insurance claims", body="My insurer rejected the claims for two appointments.")
    assert _search(supervisor, "citas medicas") == [es.reference]
    assert _search(supervisor, "MÉDICO cambiaron") == [es.reference]
    assert _search(supervisor, "manana martes") == [es.reference]
    assert _search(supervisor, "appointment claim rejecting") == [en.reference]
    assert _search(supervisor, "diaz") == [es.reference]  # the name, accent-insensitive
    assert _search(supervisor, "de la por") == []  # stop words alone match no text


def test_internal_notes_match_only_for_who_may_read_them(client, ctx, portal, agent, queues):
    portal_user, portal_secret = portal
    resp = client.post("/api/v1/tickets", headers=bearer(portal_secret), json={
        "requester": {"email": "rosa@example.org", "name": "Rosa Diaz"},
        "subject": "Billing question", "body": BILL})
    ref = resp.get_json()["reference"]
    ticket = get_visible_ticket(portal_user, ref)
    if ticket.queue.slug != "billing":
        services.update_ticket(ticket, actor=agent, queue_id=queues["billing"].id, reason="billing")
    services.post_message(ticket, author=agent, public=False, body="Suspected duplicate of the xylophone account.")
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    assert _api_refs(client, agent_secret, q="xylophone duplicate") == [ref]
    staff_snippet = client.get("/api/v1/tickets?q=xylophone", headers=bearer(agent_secret)).get_json()["items"][0]
    assert "<mark>xylophone</mark>" in staff_snippet["snippet"]
    # the portal (and the patient) do not see the note: no match, and no count to infer it from
    assert _api_refs(client, portal_secret, q="xylophone") == []
    assert _api_refs(client, portal_secret, q="xylophone charged") == []
    hit = client.get("/api/v1/tickets?q=charged", headers=bearer(portal_secret)).get_json()["items"]
    assert [t["reference"] for t in hit] == [ref] and "xylophone" not in str(hit)


def test_a_patient_never_finds_another_patients_ticket(client, ctx, patient, other_patient, make_ticket, agent):
    mine = make_ticket(requester=patient)
    theirs = make_ticket(requester=other_patient)
    services.post_message(theirs, author=agent, body="Refund approved for the duplicate charge.")
    assert _search(patient, "charged twice") == [mine.reference]
    assert _search(patient, "refund approved") == []
    assert _search(patient, theirs.reference) == []
    assert _search(patient, "John Other") == []
    assert _search(other_patient, "refund") == [theirs.reference]


def test_search_combines_with_every_filter_and_pages_by_relevance(client, ctx, agent, outsider_agent, make_ticket):
    a = make_ticket(subject="Statement question", body=BILL)
    b = make_ticket(subject="Statement question again", body=BILL)
    c = make_ticket(subject="Another statement question", body=BILL)
    make_ticket(subject="Parking fee", body="The parking machine took my card and charged me twice.", queue=None)
    services.update_ticket(b, actor=agent, priority=Priority.URGENT)
    services.update_ticket(c, actor=agent, assignee_id=agent.id)
    services.update_ticket(a, actor=agent, status=Status.PENDING_PATIENT)
    q = "statement billing"
    assert set(_search(agent, q)) == {a.reference, b.reference, c.reference}
    assert _search(agent, q, priority="urgent") == [b.reference]
    assert _search(agent, q, assignee="mine") == [c.reference]
    assert _search(agent, q, status="pending_patient") == [a.reference]
    assert set(_search(agent, q, queue="billing")) == {a.reference, b.reference, c.reference}
    assert _search(agent, q, queue="triage") == []
    for sort in ("newest", "oldest", "priority", "due"):
        assert set(_search(agent, q, sort=sort)) == {a.reference, b.reference, c.reference}
    assert _search(agent, q, sort="oldest") == [a.reference, b.reference, c.reference]
    # keyset pages over the relevance order: every match once
    seen, cursor = [], None
    for _ in range(5):
        rows, cursor = ticket_list(agent, TicketFilters(q="charged twice", sort="relevance", limit=2, cursor=cursor))
        seen += [t.reference for t in rows]
        if not cursor:
            break
    assert len(seen) == 4 and len(set(seen)) == 4
    # a saved view keeps its search with its filters
    view = saved_views.save_view(actor=agent, name="Urgent statements", scope=None, args={"q": q, "priority": "urgent"})
    assert view.args == {"q": q, "priority": "urgent"}
    login(client, agent)
    page = client.get("/agent/tickets", query_string={"view": view.id, **view.args}).get_data(as_text=True)
    assert _refs(page) == {b.reference}
    # an agent outside the queue finds nothing, not even by reference
    assert _search(outsider_agent, a.reference) == [] and _search(outsider_agent, q) == []


def test_snippets_are_highlighted_and_escaped(client, ctx, agent, make_ticket):
    t = make_ticket(body="<script>alert('x')</script> I was charged twice <b>for</b> my billing statement.")
    login(client, agent)
    page = client.get("/agent/tickets?q=alert+charged").get_data(as_text=True)
    assert t.reference in page
    assert "<script>alert" not in page and "<b>for</b>" not in page
    assert "&lt;script&gt;<mark>alert</mark>" in page
    assert "<mark>charged</mark>" in page
    _t, secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    snippet = client.get("/api/v1/tickets?q=alert", headers=bearer(secret)).get_json()["items"][0]["snippet"]
    assert snippet.startswith("&lt;script&gt;<mark>alert</mark>(&#39;x&#39;)&lt;/script&gt;")
    assert client.get("/api/v1/tickets?limit=1", headers=bearer(secret)).get_json()["items"][0]["snippet"] is None


def test_documents_follow_corrections_and_merges(ctx, agent, patient, make_ticket):
    t = make_ticket()
    posted = services.post_message(t, author=agent, body="Your refund is on its way.")
    assert _search(agent, "refund") == [t.reference]
    services.correct_message(t, posted.message.id, editor=agent, body="Your reimbursement is on its way.")
    assert _search(agent, "refund") == [] and _search(agent, "reimbursement") == [t.reference]
    other = make_ticket(subject="Second bill", body="The pharmacy invoice is wrong.")
    from helpdesk.tickets.merge import merge_tickets

    merge_tickets(t, [other.reference], actor=agent)
    assert t.reference in _search(agent, "pharmacy invoice")


def test_the_migration_backfills_existing_tickets(app, ctx, agent, make_ticket):
    t = make_ticket()
    services.post_message(t, author=agent, body="The cardiology referral is attached.")
    db.session.commit()
    db.session.remove()
    directory = str(ROOT / "migrations")
    downgrade(directory=directory, revision="f6a7b8c9d0e1-1")  # drops the search objects
    upgrade(directory=directory)  # creates them and indexes every ticket
    assert _search(agent, "cardiology referral") == [t.reference]
    assert _search(agent, t.reference[3:].lower()) == [t.reference]
    assert db.session.scalar(sa.text("SELECT count(*) FROM ticket_search")) == 1


def test_many_text_matches_rank_the_newest_and_sort_by_newest_pages_through_all(client, ctx, agent, make_ticket,
                                                                                monkeypatch):
    """PostgreSQL ranks the text matches among the newest ``RANKED_NEWEST`` (the page and
    the API say so); SQLite ranks them all. Sorting by newest pages through every match."""
    from helpdesk.tickets import search

    monkeypatch.setattr(search, "RANKED_NEWEST", 2)
    made = [make_ticket(subject=f"Statement question {i}", body=BILL) for i in range(4)]
    f = TicketFilters(q="statement", sort="relevance")
    rows, cursor = ticket_list(agent, f)
    _t, secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    api = client.get("/api/v1/tickets", query_string={"q": "statement"}, headers=bearer(secret)).get_json()
    login(client, agent)
    page = client.get("/agent/tickets", query_string={"q": "statement"}).get_data(as_text=True)
    if db.session.get_bind().dialect.name == "postgresql":
        assert {t.reference for t in rows} == {made[3].reference, made[2].reference} and cursor is None
        assert f.ranked_newest == 2 and api["ranked_newest"] == 2
        assert "More than 2 tickets match these words" in page and "sort=newest" in page
    else:
        assert {t.reference for t in rows} == {t.reference for t in made}
        assert f.ranked_newest is None and api["ranked_newest"] is None
        assert "More than" not in page
    assert _search(agent, "statement", sort="newest") == [t.reference for t in reversed(made)]
    # a reference or a patient is found whatever the number of text matches
    assert _search(agent, made[0].reference)[0] == made[0].reference


def test_the_newest_matches_are_found_in_steps_whatever_the_walk_finds(ctx, agent, make_ticket, monkeypatch):
    """PostgreSQL finds the newest text matches in steps (a walk of the newest documents,
    then a window the walk's rate predicts, read through the index for the blocks of
    ticket numbers it spans, then the index below it): whichever steps run and however
    the blocks fall, the ranked matches are the newest, and the flag says when more
    match. SQLite ranks every match (no steps)."""
    from helpdesk.tickets import search

    monkeypatch.setattr(search, "RANKED_NEWEST", 2)
    monkeypatch.setattr(search, "WALK", 2)
    monkeypatch.setattr(search, "WINDOW_MARGIN", 1)
    monkeypatch.setattr(search, "SMALL_MATCHES", 0)  # a window even for these few matches
    # words by ticket (oldest first): "voucher" in 0, 1, 2 and 8 (the window of the walk's
    # rate holds none of the older ones: the last step finds them); "receipt" in 3, 5 and 8
    # (the window holds them); "invoice" in none of the newest two (the index alone)
    words = {0: "voucher", 1: "voucher invoice", 2: "voucher", 3: "receipt", 5: "receipt invoice",
             8: "voucher receipt"}
    made = [make_ticket(subject=f"Question {words.get(i, 'about a charge')}", body=BILL) for i in range(10)]
    pg = db.session.get_bind().dialect.name == "postgresql"
    cases = (("voucher", [8, 2], True), ("receipt", [8, 5], True), ("invoice", [5, 1], False))
    for block in (1, 3, 10**9):  # windows of single tickets, of a few, of every ticket
        monkeypatch.setattr(search, "BLOCK", block)
        for q, expected, more in cases:
            f = TicketFilters(q=q, sort="relevance")
            rows, _ = ticket_list(agent, f)
            if pg:
                assert {t.reference for t in rows} == {made[i].reference for i in expected}, (q, block)
                assert f.ranked_newest == (2 if more else None), (q, block)
            else:
                assert {t.reference for t in rows} == {made[i].reference for i, w in words.items() if q in w}, q
    assert _search(agent, "voucher", sort="newest") == [made[i].reference for i in (8, 2, 1, 0)]


def test_the_search_follows_a_ticket_moved_to_another_queue_or_closed(ctx, agent, outsider_agent, supervisor,
                                                                     make_ticket, queues):
    t = make_ticket(subject="Statement question", body=BILL)
    assert _search(agent, "statement", status="new") == [t.reference]
    services.update_ticket(t, actor=supervisor, queue_id=queues["general"].id, reason="not billing")
    assert _search(agent, "statement") == [] and _search(agent, "statement", sort="newest") == []
    assert _search(outsider_agent, "statement") == [t.reference]
    services.update_ticket(t, actor=supervisor, status=Status.CLOSED)
    assert _search(outsider_agent, "statement", status="new") == []
    assert _search(outsider_agent, "statement", status="closed") == [t.reference]
    assert _search(outsider_agent, "statement", status="active") == []


def test_the_name_search_follows_patients_renamed_and_removed(ctx, make_user, agent, make_ticket):
    """PostgreSQL takes the name candidates from the patients' distinct names (a table
    kept by triggers on the accounts): a rename or a removal shows at once, and no name
    outlives the patients who bear it. SQLite reads the accounts themselves."""
    from helpdesk.auth.models import User

    rosa = make_user(Role.PATIENT, name="Rosa Quintanilla")
    t = make_ticket(requester=rosa)
    twin = make_user(Role.PATIENT, name="Rosa Quintanilla")  # the same name, no request
    make_user(Role.AGENT, name="Rosa Villalobos")  # staff: never a patient match
    assert _search(agent, "quintanila") == [t.reference]
    rosa.display_name = "Rosa Villalobos"
    db.session.commit()
    assert _search(agent, "quintanila") == [] and _search(agent, "villalobos") == [t.reference]
    db.session.delete(db.session.get(User, twin.id))
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        names = dict(db.session.execute(sa.text("SELECT name_folded, patients FROM ticket_search_names")).all())
        assert names.get("rosa villalobos") == 1 and "rosa quintanilla" not in names


def test_a_patient_is_found_by_the_whole_or_a_part_of_their_address(ctx, make_user, agent, make_ticket):
    rosa = make_ticket(requester=make_user(Role.PATIENT, name="Rosa Diaz", email="rosa.diaz@clinic.example"))
    make_ticket(requester=make_user(Role.PATIENT, name="Rosa Diaz", email="rosa.diaz@other.example"))
    make_ticket(requester=make_user(Role.PATIENT, name="Ross Dean", email="ross.dean@clinic.example"))
    assert _search(agent, "Rosa.Diaz@Clinic.Example") == [rosa.reference]
    assert _search(agent, "diaz@clinic") == [rosa.reference]
    assert len(_search(agent, "rosa.diaz@")) == 2 and len(_search(agent, "@clinic.example")) == 2
    assert _search(agent, "rosa.diaz@clinic.example.org") == [] and _search(agent, "rosa_diaz@clinic") == []


def test_names_of_the_best_score_come_first_on_every_page(ctx, make_user, agent, make_ticket):
    """The closest spelling first, then the newest: on a first page PostgreSQL reads the
    tickets of the best-scored names alone when they fill it; pages after it, and a
    first page they do not fill, read every matched name. Same order on SQLite."""
    smiths = [make_ticket(requester=make_user(Role.PATIENT, name="Ann Smith")) for _ in range(3)]
    smyths = [make_ticket(requester=make_user(Role.PATIENT, name="Bo Smyth")) for _ in range(2)]  # newer
    expected = [t.reference for t in reversed(smiths)] + [t.reference for t in reversed(smyths)]
    seen, cursor = [], None
    for _ in range(5):
        rows, cursor = ticket_list(agent, TicketFilters(q="smith", sort="relevance", limit=2, cursor=cursor))
        seen += [t.reference for t in rows]
        if not cursor:
            break
    assert seen == expected
    # the best-scored names' tickets do not fill the page (limit 4: 5 wanted): every name is read
    assert _search(agent, "smith", limit=4) == expected[:4]
