"""Agents' ticket suggestions: only articles above the measured relevance floor, no
padding to fill the five slots; "No matching article" when none passes."""

from __future__ import annotations

from helpdesk.kb.index import AGENT_SUGGESTION_MIN_SCORE, search_articles, suggest_for_ticket
from tests.factories import login


def test_an_off_topic_request_gets_no_suggestion_and_the_panel_says_so(client, ctx, seeded, supervisor, make_ticket):
    t = make_ticket(subject="Thank you to the night nurse", queue=None,
                    body="The nurse on the night shift was very kind to my father and I would like to thank her.")
    # below the floor there are articles the former padding would have shown
    assert search_articles("night nurse was very kind to my father thank her", include_internal=True, min_score=0.0)
    assert suggest_for_ticket(t) == []
    login(client, supervisor)  # a member of every queue, wherever the router put it
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "No matching article." in page


def test_a_request_an_article_answers_gets_it_and_only_articles_above_the_floor(ctx, seeded, make_ticket):
    t = make_ticket(subject="Forgot my password", queue=None,
                    body="I forgot my password and I can't sign in to the patient portal.")
    results = suggest_for_ticket(t)
    assert results and results[0].article.slug == "reset-your-password"
    assert len(results) < 5  # not padded to the slot count
    assert all(r.score > AGENT_SUGGESTION_MIN_SCORE for r in results)
