"""Knowledge-base pages: the permission triad for every endpoint, and the flows.

Triad: allowed → 200 (or the redirect of a successful POST), wrong role → 403,
another's object / an internal or unpublished article to a patient → 404. The help
centre is open to everyone (signed-out visitors too: "I can't sign in" is the commonest
question), so it has no "wrong role"; its third leg is internal/unpublished → 404.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.kb.models import Article, ArticleFeedback, ArticleStatus, Deflection, TicketArticleLink
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status, Ticket
from tests.conftest import csrf_from
from tests.factories import count, login
from tests.kb.conftest import article_data


@pytest.fixture
def public(make_article):
    return make_article()


@pytest.fixture
def internal(make_article):
    return make_article(audience="internal", title="Agent procedure for billing disputes",
                        summary="Internal steps.", category="Bills and payments")


@pytest.fixture
def draft(make_article):
    return make_article(status="draft", title="Unpublished draft about refunds")


# ================================================================ help centre


def test_help_centre_home_category_and_article_for_everyone(client, public, patient, agent):
    for who in (None, patient, agent):
        if who:
            login(client, who)
        assert client.get("/help-centre").status_code == 200
        page = client.get("/help-centre/categories/signing-in")
        assert page.status_code == 200 and public.title in page.get_data(as_text=True)
        article = client.get(f"/help-centre/articles/{public.slug}")
        assert article.status_code == 200 and "Forgot password?" in article.get_data(as_text=True)


def test_help_centre_hides_internal_draft_and_archived_articles(client, public, internal, draft, make_article, patient,
                                                              agent):
    archived = make_article(status="archived", title="Old parking article", category="General")
    for who in (None, patient, agent):
        if who:
            login(client, who)
        for hidden in (internal, draft, archived):
            assert client.get(f"/help-centre/articles/{hidden.slug}").status_code == 404
        assert client.get("/help-centre/articles/no-such-article").status_code == 404
        assert client.get("/help-centre/categories/no-such-topic").status_code == 404
        assert client.get("/help-centre/categories/general").status_code == 404  # only an archived article there
        home = client.get("/help-centre").get_data(as_text=True)
        assert "Bills and payments" not in home  # the internal article's category is not shown


def test_help_centre_search_is_a_post_and_never_shows_internal_articles(client, public, internal, patient):
    login(client, patient)
    assert client.get("/help-centre/search").status_code == 405  # no query text in URLs
    resp = client.post("/help-centre/search", data={"q": "pasword reset"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and public.title in page
    resp = client.post("/help-centre/search", data={"q": "agent procedure billing disputes"})
    assert internal.title not in resp.get_data(as_text=True)
    assert client.post("/help-centre/search", data={"q": "   "}).status_code == 422
    assert client.post("/help-centre/search", data={"q": "x" * 50_000}).status_code == 200


def test_feedback_triad_and_validation(client, public, internal, patient):
    resp = client.post(f"/help-centre/articles/{public.slug}/feedback", data={"helpful": "yes"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#feedback")
    login(client, patient)
    resp = client.post(f"/help-centre/articles/{public.slug}/feedback",
                       data={"helpful": "no", "reason": "The steps did not match"})
    assert resp.status_code == 302
    assert client.post(f"/help-centre/articles/{internal.slug}/feedback", data={"helpful": "yes"}).status_code == 404
    bad = client.post(f"/help-centre/articles/{public.slug}/feedback", data={"helpful": "no", "reason": "x" * 501})
    assert bad.status_code == 422 and b'class="error"' in bad.data
    assert client.post(f"/help-centre/articles/{public.slug}/feedback", data={"helpful": "?"}).status_code == 422
    rows = db.session.scalars(sa.select(ArticleFeedback).order_by(ArticleFeedback.id)).all()
    assert [(r.helpful, r.user_id) for r in rows] == [(True, None), (False, patient.id)]


def test_article_pages_count_views(client, public, agent):
    from helpdesk.kb.services import kb_stats

    client.get(f"/help-centre/articles/{public.slug}")
    client.get(f"/help-centre/articles/{public.slug}")
    assert kb_stats()["totals"]["views"] == 2


def test_rendered_article_is_sanitised_on_the_page(client, make_article):
    a = make_article(body_md='Hello <script>alert(1)</script><img src=x onerror=alert(2)> '
                             '[x](javascript:alert(3)) <iframe src="https://e.example"></iframe>')
    page = client.get(f"/help-centre/articles/{a.slug}").get_data(as_text=True)
    assert "<script>alert" not in page and "onerror" not in page and "<iframe" not in page
    assert 'href="javascript' not in page


# ================================================================ Get help: suggestions, deflection


def test_suggest_triad(client, seeded, patient, agent):
    body = {"subject": "forgot my pasword", "body": "I can't sign in to the portal"}
    assert client.post("/help/suggest", json=body).status_code == 302  # signed out: to sign in
    login(client, agent)
    assert client.post("/help/suggest", json=body).status_code == 403
    login(client, patient)
    resp = client.post("/help/suggest", json=body)
    data = resp.get_json()
    assert resp.status_code == 200 and 1 <= len(data["articles"]) <= 3
    assert data["articles"][0]["url"] == "/help-centre/articles/reset-your-password"
    assert set(data["articles"][0]) == {"id", "title", "summary", "language", "url"}
    assert "pasword" not in resp.get_data(as_text=True)  # the patient's text is not echoed


def test_suggest_never_returns_internal_articles_and_refuses_bad_input(client, seeded, patient):
    login(client, patient)
    data = client.post("/help/suggest", json={"subject": "agent procedure verifying identity",
                                              "body": "before an account access reset"}).get_json()
    assert all(seeded[a["url"].rsplit("/", 1)[1]].audience.value == "public" for a in data["articles"])
    assert client.post("/help/suggest", data="not json", content_type="application/json").status_code == 400
    assert client.post("/help/suggest", json=["a list"]).status_code == 400
    assert client.post("/help/suggest", json={"subject": 3, "body": None}).status_code == 400
    assert client.post("/help/suggest", json={"subject": "hi", "body": ""}).get_json()["articles"] == []
    big = client.post("/help/suggest", json={"subject": "reset password", "body": "x " * 200_000})
    assert big.status_code in (200, 413)


def test_suggest_gives_the_emergency_message_instead_of_articles(client, seeded, patient):
    login(client, patient)
    data = client.post("/help/suggest", json={"subject": "chest pain", "body": "I have crushing chest pain and "
                                                                               "can't breathe, also my bill"}).get_json()
    assert data["articles"] == [] and "911" in data["emergency"]


def test_get_help_without_javascript_shows_suggestions_before_sending(client, seeded, patient):
    login(client, patient)
    data = {"subject": "Forgot my pasword", "body": "I can't sign in, I forgot my password."}
    step = client.post("/help", data=data)
    page = step.get_data(as_text=True)
    assert step.status_code == 200 and "These articles may answer your question" in page
    assert "Reset your password" in page and "This answered my question" in page
    assert 'name="confirm" value="1"' in page and "Send my request" in page
    assert count(Ticket) == 0
    # "Send my request": the request goes through as before
    sent = client.post("/help", data={**data, "confirm": "1"})
    assert sent.status_code == 302 and count(Ticket) == 1


def test_this_answered_my_question_records_a_deflection_and_sends_nothing(client, seeded, patient):
    login(client, patient)
    article = seeded["reset-your-password"]
    resp = client.post("/help/deflect", data={"article_id": str(article.id), "query_length": "48",
                                              "source": "get_help"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/help-centre/articles/reset-your-password")
    row = db.session.scalar(sa.select(Deflection))
    assert (row.article_id, row.user_id, row.query_length, row.source) == (article.id, patient.id, 48, "get_help")
    assert count(Ticket) == 0


def test_deflect_triad(client, public, internal, draft, patient, agent):
    assert client.post("/help/deflect", data={"article_id": str(public.id)}).status_code == 302
    assert count(Deflection) == 0  # signed out: sent to sign in
    login(client, agent)
    assert client.post("/help/deflect", data={"article_id": str(public.id)}).status_code == 403
    login(client, patient)
    for hidden in (internal.id, draft.id, 999_999, "abc", ""):
        assert client.post("/help/deflect", data={"article_id": str(hidden)}).status_code == 404
    assert client.post("/help/deflect", data={"article_id": str(public.id), "query_length": "lots"}).status_code == 302
    assert count(Deflection) == 1


def test_get_help_skips_suggestions_for_an_emergency(client, seeded, patient):
    login(client, patient)
    resp = client.post("/help", data={"subject": "Can't breathe", "body": "I can't breathe and my chest hurts, "
                                                                          "also forgot my password"})
    assert resp.status_code == 302 and count(Ticket) == 1


def test_get_help_without_matching_articles_submits_directly(client, seeded, patient):
    login(client, patient)
    resp = client.post("/help", data={"subject": "Zqxv wkpl", "body": "Jfkd qpwo zmxn"})
    assert resp.status_code == 302 and count(Ticket) == 1


# ================================================================ staff pages: triads


def test_staff_list_and_article_triad(client, public, internal, draft, patient, agent):
    login(client, patient)
    assert client.get("/kb/").status_code == 403
    assert client.get(f"/kb/articles/{internal.id}").status_code == 403
    login(client, agent)
    listing = client.get("/kb/")
    assert listing.status_code == 200 and internal.title in listing.get_data(as_text=True)
    assert client.get(f"/kb/articles/{internal.id}").status_code == 200
    assert client.get(f"/kb/articles/{draft.id}").status_code == 200  # staff read every article
    assert client.get("/kb/articles/999999").status_code == 404
    search = client.get("/kb/?q=billing+disputes+procedure")
    assert search.status_code == 200 and internal.title in search.get_data(as_text=True)
    assert client.get("/kb/?cursor=garbage&status=nope&lang=xx").status_code == 200


def test_staff_list_paginates_by_keyset(client, make_article, agent):
    from helpdesk.kb.views import LIST_PAGE_SIZE

    for i in range(LIST_PAGE_SIZE + 3):
        make_article(status="draft", title=f"Draft number {i}")
    login(client, agent)
    first = client.get("/kb/").get_data(as_text=True)
    import re

    cursor = re.search(r'cursor=([^&"]+)', first).group(1)
    second = client.get(f"/kb/?cursor={cursor}").get_data(as_text=True)
    assert second.count("Draft number") == 3 and "Next page" not in second


def test_new_article_triad_and_agents_create_drafts(client, queues, patient, agent):
    login(client, patient)
    assert client.get("/kb/articles/new").status_code == 403
    assert client.post("/kb/articles/new", data=article_data()).status_code == 403
    login(client, agent)
    assert client.get("/kb/articles/new").status_code == 200
    resp = client.post("/kb/articles/new", data=article_data())
    assert resp.status_code == 302
    a = db.session.scalar(sa.select(Article))
    assert a.status == ArticleStatus.DRAFT and a.author_id == agent.id


def test_new_article_bad_input_is_a_422_with_field_errors(client, queues, agent):
    login(client, agent)
    resp = client.post("/kb/articles/new", data=article_data(title="", body_md="b" * 100_001))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "The article is too long" in page and "100,000" in page
    assert "The title can" in page and count(Article) == 0


def test_edit_triad(client, public, internal, patient, agent, editor):
    login(client, patient)
    assert client.get(f"/kb/articles/{public.id}/edit").status_code == 403
    login(client, agent)  # not an editor, not the author of a draft
    assert client.get(f"/kb/articles/{public.id}/edit").status_code == 403
    assert client.post(f"/kb/articles/{public.id}/edit", data=article_data(title="x")).status_code == 403
    login(client, editor)
    assert client.get(f"/kb/articles/{public.id}/edit").status_code == 200
    assert client.get("/kb/articles/424242/edit").status_code == 404
    resp = client.post(f"/kb/articles/{internal.id}/edit",
                       data=article_data(title="Billing disputes: agent steps", audience="internal",
                                         version=str(internal.version)))
    assert resp.status_code == 302
    db.session.expire_all()
    assert internal.title == "Billing disputes: agent steps" and internal.revision == 2


def test_two_editors_the_second_save_is_refused_and_keeps_its_text(client, public, supervisor, editor):
    opened = str(public.version)
    login(client, supervisor)
    assert client.post(f"/kb/articles/{public.id}/edit",
                       data=article_data(title="Supervisor's title", version=opened)).status_code == 302
    login(client, editor)
    resp = client.post(f"/kb/articles/{public.id}/edit",
                       data=article_data(title="Editor's title", body_md="Editor's careful rewrite.", version=opened))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "changed since you opened it" in page
    assert "Editor&#39;s careful rewrite." in page and "Supervisor&#39;s title" in page  # their text and the diff
    db.session.expire_all()
    assert public.title == "Supervisor's title" and public.revision == 2
    # saving again from that page (it now carries the current version) is deliberate and works
    import re

    current = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    again = client.post(f"/kb/articles/{public.id}/edit",
                        data=article_data(title="Editor's title", body_md="Editor's careful rewrite.", version=current))
    assert again.status_code == 302


def test_status_triad_and_publish_flow(client, make_article, patient, agent, editor):
    a = make_article(status="draft", author=agent)
    login(client, patient)
    assert client.post(f"/kb/articles/{a.id}/status", data={"status": "in_review"}).status_code == 403
    login(client, agent)
    assert client.post(f"/kb/articles/{a.id}/status", data={"status": "in_review",
                                                            "version": str(a.version)}).status_code == 302
    assert client.post(f"/kb/articles/{a.id}/status", data={"status": "published"}).status_code == 403
    assert client.post("/kb/articles/999999/status", data={"status": "published"}).status_code == 404
    login(client, editor)
    assert client.post(f"/kb/articles/{a.id}/status", data={"status": "published"}).status_code == 302
    db.session.expire_all()
    assert a.status == ArticleStatus.PUBLISHED
    stale = client.post(f"/kb/articles/{a.id}/status", data={"status": "archived", "version": "1"})
    assert stale.status_code == 303
    bad = client.post(f"/kb/articles/{a.id}/status", data={"status": "in_review"})
    assert bad.status_code == 409  # published → in review is not a step
    db.session.expire_all()
    assert a.status == ArticleStatus.PUBLISHED


def test_reviewed_triad(client, public, patient, agent, editor):
    login(client, patient)
    assert client.post(f"/kb/articles/{public.id}/reviewed").status_code == 403
    login(client, agent)
    assert client.post(f"/kb/articles/{public.id}/reviewed").status_code == 403
    login(client, editor)
    assert client.post("/kb/articles/999999/reviewed").status_code == 404
    assert client.post(f"/kb/articles/{public.id}/reviewed", data={"version": str(public.version)}).status_code == 302


def test_versions_and_restore_triad(client, public, patient, agent, editor, supervisor):
    from helpdesk.kb import services

    services.save_article(public, actor=supervisor, data=article_data(title="Second title"),
                          expected_version=public.version)
    login(client, patient)
    assert client.get(f"/kb/articles/{public.id}/versions/1").status_code == 403
    assert client.post(f"/kb/articles/{public.id}/versions/1/restore").status_code == 403
    login(client, agent)
    page = client.get(f"/kb/articles/{public.id}/versions/2")
    assert page.status_code == 200 and "Second title" in page.get_data(as_text=True)
    assert "Reset your password" in page.get_data(as_text=True)  # the diff against revision 1
    assert client.get(f"/kb/articles/{public.id}/versions/1?against=2").status_code == 200
    assert client.get(f"/kb/articles/{public.id}/versions/9").status_code == 404
    assert client.get(f"/kb/articles/{public.id}/versions/1?against=x").status_code == 404
    assert client.post(f"/kb/articles/{public.id}/versions/1/restore").status_code == 403
    login(client, editor)
    assert client.post("/kb/articles/999999/versions/1/restore").status_code == 404
    resp = client.post(f"/kb/articles/{public.id}/versions/1/restore", data={"version": str(public.version)})
    assert resp.status_code == 302
    db.session.expire_all()
    assert public.title == "Reset your password" and public.revision == 3


@pytest.mark.parametrize("path", ["/kb/review", "/kb/stats", "/kb/stats.json"])
def test_editor_pages_triad(client, public, patient, agent, editor, supervisor, path):
    login(client, patient)
    assert client.get(path).status_code == 403
    login(client, agent)
    assert client.get(path).status_code == 403
    for who in (editor, supervisor):
        login(client, who)
        assert client.get(path).status_code == 200


def test_stats_page_and_json_filters(client, public, supervisor):
    login(client, supervisor)
    data = client.get("/kb/stats.json?days=30&queue=account-access&queue=nope").get_json()
    assert data["queues"] == ["account-access"] and data["totals"]["articles"] == 1
    assert client.get("/kb/stats?days=abc&queue=").status_code == 200


def test_editors_page_triad(client, queues, make_user, admin, supervisor, patient):
    agent = make_user(Role.AGENT)
    login(client, patient)
    assert client.get("/kb/editors").status_code == 403
    login(client, supervisor)
    assert client.get("/kb/editors").status_code == 403
    assert client.post(f"/kb/editors/{agent.id}/1").status_code == 403
    login(client, admin)
    assert client.get("/kb/editors").status_code == 200
    assert client.post("/kb/editors/999999/1").status_code == 404
    assert client.post(f"/kb/editors/{agent.id}/1").status_code == 302
    db.session.expire_all()
    assert agent.kb_editor is True
    assert client.post(f"/kb/editors/{supervisor.id}/1").status_code == 302  # refused with a message
    db.session.expire_all()
    assert supervisor.kb_editor is False


# ================================================================ tickets: panel, links, article from ticket


def test_ticket_page_suggests_public_and_internal_articles_and_inserts_without_js(client, seeded, make_ticket, agent):
    t = make_ticket(subject="Question about a charge", body="I want to dispute a charge on my bill, it looks wrong.")
    login(client, agent)
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "Suggested articles" in page and "Dispute a charge on your bill" in page
    assert "Agent procedure - handling a billing dispute" in page  # internal: agents see it
    assert page.count('class="button kb-insert"') >= 1 and "kb-agent.js" in page
    dispute = seeded["dispute-a-charge"]
    prefilled = client.get(f"/agent/tickets/{t.reference}?kb_insert={dispute.id}").get_data(as_text=True)
    assert "http://127.0.0.1:5000/help-centre/articles/dispute-a-charge" in prefilled
    internal = seeded["agent-handling-a-billing-dispute"]
    not_inserted = client.get(f"/agent/tickets/{t.reference}?kb_insert={internal.id}").get_data(as_text=True)
    assert "/help-centre/articles/agent-handling-a-billing-dispute" not in not_inserted
    assert client.get(f"/agent/tickets/{t.reference}?kb_insert=abc").status_code == 200


def test_link_and_unlink_triad(client, public, internal, draft, make_ticket, patient, agent, outsider_agent):
    t = make_ticket()
    login(client, patient)
    assert client.post(f"/kb/tickets/{t.reference}/links", data={"article_id": str(public.id)}).status_code == 403
    login(client, outsider_agent)
    assert client.post(f"/kb/tickets/{t.reference}/links", data={"article_id": str(public.id)}).status_code == 404
    login(client, agent)
    assert client.post("/kb/tickets/HD-NOPE99/links", data={"article_id": str(public.id)}).status_code == 404
    assert client.post(f"/kb/tickets/{t.reference}/links", data={"article_id": "999999"}).status_code == 404
    assert client.post(f"/kb/tickets/{t.reference}/links", data={"article_id": "x"}).status_code == 404
    assert client.post(f"/kb/tickets/{t.reference}/links", data={"article_id": str(draft.id)}).status_code == 303
    for a in (public, internal):
        assert client.post(f"/kb/tickets/{t.reference}/links", data={"article_id": str(a.id)}).status_code == 302
    assert count(TicketArticleLink) == 2
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "Resolved with" in page and public.title in page
    article_page = client.get(f"/kb/articles/{public.id}").get_data(as_text=True)
    assert "Tickets resolved with it</dt><dd>1</dd>" in article_page
    login(client, outsider_agent)
    assert client.post(f"/kb/tickets/{t.reference}/links/{public.id}/delete").status_code == 404
    login(client, patient)
    assert client.post(f"/kb/tickets/{t.reference}/links/{public.id}/delete").status_code == 403
    login(client, agent)
    assert client.post(f"/kb/tickets/{t.reference}/links/{public.id}/delete").status_code == 302
    assert client.post(f"/kb/tickets/{t.reference}/links/{public.id}/delete").status_code == 404
    assert count(TicketArticleLink) == 1


def test_article_from_ticket_triad_and_personal_data_flow(client, make_ticket, patient, other_patient, agent,
                                                          outsider_agent):
    t = make_ticket()
    tickets.post_message(t, author=agent, body="Hi Maria, I removed the duplicate charge. You can also call "
                                                "555-123-4567 or write billing@example.org.", next_status=Status.RESOLVED)
    other = make_ticket(requester=other_patient)
    login(client, patient)
    assert client.get(f"/kb/from-ticket/{t.reference}").status_code == 403
    login(client, outsider_agent)
    assert client.get(f"/kb/from-ticket/{t.reference}").status_code == 404
    login(client, agent)
    assert client.get(f"/kb/from-ticket/{other.reference}").status_code == 409  # not resolved yet
    assert client.get("/kb/from-ticket/HD-NOPE99").status_code == 404
    page = client.get(f"/kb/from-ticket/{t.reference}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'class="kb-pii-hit"' in html
    assert ">Maria<" in html.replace('<mark class="kb-pii-hit" title="the patient&#39;s name">', ">")
    assert "555-123-4567</mark>" in html.replace('<span class="sr-only"> (looks like phone number)</span>', "")
    form = {"title": "Duplicate charges", "summary": "How we remove a duplicate charge.",
            "body_md": "Hi Maria, I removed the duplicate charge.", "category": "Bills and payments",
            "queues": ["billing"], "audience": "public", "language": "en"}
    refused = client.post(f"/kb/from-ticket/{t.reference}", data=form)
    assert refused.status_code == 422 and "look like personal data" in refused.get_data(as_text=True)
    assert count(Article) == 0
    confirmed = client.post(f"/kb/from-ticket/{t.reference}", data={**form, "confirm": "y"})
    assert confirmed.status_code == 302 and count(Article) == 1
    cleaned = client.post(f"/kb/from-ticket/{t.reference}",
                          data={**form, "body_md": "We remove duplicate charges once we confirm them."})
    assert cleaned.status_code == 302 and count(Article) == 2
    assert all(a.status == ArticleStatus.DRAFT for a in db.session.scalars(sa.select(Article)))


# ================================================================ navigation and CSRF


def test_navigation_links(client, patient, agent):
    assert b"Help centre" in client.get("/login").data
    login(client, patient)
    assert b'href="/help-centre"' in client.get("/requests").data
    login(client, agent)
    page = client.get("/kb/").data
    assert b'href="/kb/"' in page


def test_kb_forms_need_the_csrf_token(configure, client, public, patient):
    configure(WTF_CSRF_ENABLED=True)
    login(client, patient)
    assert client.post(f"/help-centre/articles/{public.slug}/feedback", data={"helpful": "yes"}).status_code == 400
    assert client.post("/help/suggest", json={"subject": "password", "body": ""}).status_code == 400
    assert client.post("/help/deflect", data={"article_id": str(public.id)}).status_code == 400
    page = client.get("/help").get_data(as_text=True)
    token = csrf_from(page)
    ok = client.post("/help/suggest", json={"subject": "reset password", "body": ""}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200
    assert count(ArticleFeedback) == 0 and count(Deflection) == 0


def test_suggestions_are_rate_limited(client, public, patient):
    login(client, patient)
    codes = [client.post("/help/suggest", json={"subject": "reset password", "body": ""}).status_code
             for _ in range(62)]
    assert codes[0] == 200 and codes[-1] == 429
