"""Knowledge-base services: versions, workflow, locking, limits, audit, links, numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role
from helpdesk.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.jobs import OutboxJob
from helpdesk.kb import services
from helpdesk.kb.index import current_generation, search_articles
from helpdesk.kb.models import (
    Article,
    ArticleFeedback,
    ArticleStatus,
    ArticleVersion,
    Deflection,
    KbIndexState,
    TicketArticleLink,
)
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status
from helpdesk.timeutil import utcnow
from tests.factories import count, run_jobs
from tests.kb.conftest import article_data


def actions(article_id: int) -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == "kb_article",
                                           AuditEvent.object_id == str(article_id)).order_by(AuditEvent.id)))


# ---------------------------------------------------------------- versions


def test_every_save_keeps_a_version_and_the_diff_shows_what_changed(make_article, supervisor):
    a = make_article(status="draft")
    services.save_article(a, actor=supervisor, data=article_data(title="Reset a forgotten password",
                                                                  body_md="## Steps\n\n1. Open the app.\n"),
                          expected_version=a.version, note="Clearer title")
    assert a.revision == 2 and count(ArticleVersion) == 2
    v1, v2 = (services.get_version(a, n) for n in (1, 2))
    assert v1.title == "Reset your password" and v2.title == "Reset a forgotten password" and v2.note == "Clearer title"
    diff = services.diff_texts(services.version_snapshot(v1), services.version_snapshot(v2))
    assert {"label": "Title", "before": "Reset your password", "after": "Reset a forgotten password"} in diff.fields
    assert ("+", "1. Open the app.") in diff.body and ("-", "1. Open the sign-in page.") in diff.body
    assert "kb.article_saved" in actions(a.id)


def test_restore_makes_a_new_revision_and_is_audited(make_article, supervisor):
    a = make_article()
    services.save_article(a, actor=supervisor, data=article_data(summary="A worse summary."),
                          expected_version=a.version)
    services.restore_version(a, actor=supervisor, number=1, expected_version=a.version)
    assert a.revision == 3 and a.summary == article_data()["summary"]
    assert services.get_version(a, 3).note == "Restored revision 1"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "kb.article_restored"))
    assert event.changes["restored_revision"] == 1 and event.actor_id == supervisor.id
    with pytest.raises(ValidationFailed):
        services.restore_version(a, actor=supervisor, number=3, expected_version=a.version)
    with pytest.raises(NotFound):
        services.restore_version(a, actor=supervisor, number=99, expected_version=a.version)


def test_saving_nothing_new_is_refused(make_article, supervisor):
    a = make_article()
    with pytest.raises(ValidationFailed, match="Nothing changed"):
        services.save_article(a, actor=supervisor, data=article_data(), expected_version=a.version)
    assert a.revision == 1


# ---------------------------------------------------------------- optimistic locking


def test_second_editor_saving_the_same_article_is_refused_and_nothing_is_lost(make_article, supervisor, editor):
    a = make_article()
    opened = a.version  # both editors opened the form at this version
    services.save_article(a, actor=supervisor, data=article_data(title="First editor's title"), expected_version=opened)
    with pytest.raises(Conflict, match="changed since you opened it"):
        services.save_article(a, actor=editor, data=article_data(title="Second editor's title"),
                              expected_version=opened)
    db.session.expire_all()
    assert a.title == "First editor's title" and a.revision == 2 and count(ArticleVersion) == 2


def test_a_concurrent_write_between_check_and_commit_is_a_conflict_too(make_article, supervisor):
    a = make_article()
    loaded_version = a.version
    # another process saves in between: the row's version moves on behind this session's back
    with db.engine.begin() as conn:
        conn.execute(sa.update(Article).where(Article.id == a.id).values(version=Article.version + 1, title="Other"))
    with pytest.raises(Conflict):
        services.save_article(a, actor=supervisor, data=article_data(title="Mine"), expected_version=loaded_version)
    db.session.expire_all()
    assert a.title == "Other" and count(ArticleVersion) == 1


def test_status_changes_check_the_version_as_well(make_article, supervisor):
    a = make_article(status="in_review")
    with pytest.raises(Conflict):
        services.change_status(a, actor=supervisor, status="published", expected_version=a.version - 1)
    assert a.status == ArticleStatus.IN_REVIEW


# ---------------------------------------------------------------- bad input


def test_a_very_large_article_is_refused_with_a_clear_message(make_article, supervisor):
    a = make_article()
    with pytest.raises(ValidationFailed) as err:
        services.save_article(a, actor=supervisor, data=article_data(body_md="x" * 100_001), expected_version=a.version)
    assert "too long" in err.value.message and "100,000" in err.value.message
    assert "body_md" in err.value.fields
    with pytest.raises(ValidationFailed):
        services.create_article(actor=supervisor, data=article_data(body_md="y" * 3_000_000))
    db.session.expire_all()
    assert a.revision == 1 and count(Article) == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "   "}, "title"), ({"title": "t" * 201}, "title"), ({"summary": ""}, "summary"),
        ({"body_md": "\n\n"}, "body_md"), ({"category": ""}, "category"), ({"audience": "everyone"}, "audience"),
        ({"language": "fr"}, "language"), ({"queues": ["no-such-queue"]}, "queues"), ({"title": 42}, "title"),
        ({"review_interval_days": "0"}, "review_interval_days"), ({"review_interval_days": "soon"},
                                                                   "review_interval_days"),
        ({"queues": [1, 2]}, "queues"),
    ],
)
def test_bad_fields_are_refused_and_nothing_is_saved(ctx, queues, supervisor, overrides, field):
    with pytest.raises(ValidationFailed) as err:
        services.create_article(actor=supervisor, data=article_data(**overrides))
    assert field in err.value.fields
    assert count(Article) == 0 and count(ArticleVersion) == 0


# ---------------------------------------------------------------- who does what


def test_agents_propose_drafts_and_editors_publish(make_user, supervisor, ctx, queues):
    agent = make_user(Role.AGENT, member_of=("billing",))
    other = make_user(Role.AGENT, member_of=("billing",))
    draft = services.create_article(actor=agent, data=article_data())
    assert draft.status == ArticleStatus.DRAFT and draft.author_id == agent.id
    with pytest.raises(Forbidden):
        services.create_article(actor=agent, data=article_data(title="x"), status=ArticleStatus.PUBLISHED)
    with pytest.raises(Forbidden):
        services.save_article(draft, actor=other, data=article_data(title="Hijack"), expected_version=draft.version)
    services.save_article(draft, actor=agent, data=article_data(title="My better title"), expected_version=draft.version)
    services.change_status(draft, actor=agent, status="in_review", expected_version=draft.version)
    with pytest.raises(Forbidden):  # submitted: only editors change it now
        services.save_article(draft, actor=agent, data=article_data(title="Again"), expected_version=draft.version)
    with pytest.raises(Forbidden):
        services.change_status(draft, actor=agent, status="published")
    services.change_status(draft, actor=supervisor, status="published")
    assert draft.status == ArticleStatus.PUBLISHED and draft.published_at is not None
    patient = make_user(Role.PATIENT)
    with pytest.raises(Forbidden):
        services.create_article(actor=patient, data=article_data())


def test_the_workflow_refuses_skipped_steps(make_article, supervisor):
    a = make_article(status="draft")
    with pytest.raises(InvalidTransition):
        services.change_status(a, actor=supervisor, status="published")
    with pytest.raises(ValidationFailed):
        services.change_status(a, actor=supervisor, status="deleted")
    archived = make_article(status="archived", title="Old article")
    services.change_status(archived, actor=supervisor, status="draft")
    assert archived.status == ArticleStatus.DRAFT


def test_an_admin_grants_the_editor_permission_to_agents(make_user, admin, supervisor, ctx):
    from helpdesk.permissions import is_kb_editor

    agent = make_user(Role.AGENT)
    assert not is_kb_editor(agent) and is_kb_editor(supervisor) and not is_kb_editor(admin)
    with pytest.raises(Forbidden):
        services.set_kb_editor(actor=supervisor, user=agent, value=True)
    services.set_kb_editor(actor=admin, user=agent, value=True)
    assert is_kb_editor(agent)
    with pytest.raises(ValidationFailed):
        services.set_kb_editor(actor=admin, user=supervisor, value=True)
    assert "user.kb_editor_granted" in db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == str(agent.id))).all()


# ---------------------------------------------------------------- publish, archive, index


def test_publish_and_archive_are_audited_refresh_the_index_and_enqueue_a_rebuild(make_article, supervisor,
                                                                                    monkeypatch):
    a = make_article(status="in_review")
    before = current_generation()
    enqueued = []
    real_enqueue = services.jobs.enqueue
    monkeypatch.setattr(services.jobs, "enqueue", lambda func, *args, **kw: enqueued.append((func, args))
                        or real_enqueue(func, *args, **kw))
    services.change_status(a, actor=supervisor, status="published")
    assert enqueued == [("helpdesk.kb.tasks.rebuild_index", (a.id,))]  # ids only
    published_generation = current_generation()
    assert published_generation != before
    assert [r.article.id for r in search_articles("reset password")] == [a.id]
    services.change_status(a, actor=supervisor, status="archived")
    assert current_generation() != published_generation
    assert search_articles("reset password") == []
    assert {"kb.article_published", "kb.article_archived", "kb.article_submitted"} <= set(actions(a.id))
    run_jobs()  # inline: already ran; with Redis: a real worker burst
    assert count(OutboxJob) == 0 and len(enqueued) == 2
    assert count(KbIndexState) == 1


def test_the_rebuild_job_is_safe_to_run_directly_twice_and_for_a_missing_article(make_article):
    from helpdesk.kb.tasks import rebuild_index

    a = make_article()
    rebuild_index(a.id)
    rebuild_index(a.id)
    rebuild_index(999_999)
    assert search_articles("reset password")[0].article.id == a.id


def test_publishing_sets_the_review_due_date_and_overdue_articles_are_listed(make_article, supervisor):
    a = make_article(review_interval_days="30")
    assert (a.review_due_at - a.published_at) == timedelta(days=30)
    assert services.overdue_articles() == []
    later = utcnow() + timedelta(days=31)
    assert services.overdue_articles(now=later) == [a]
    services.mark_reviewed(a, actor=supervisor, expected_version=a.version)
    assert a.review_due_at > utcnow() + timedelta(days=29)
    assert "kb.article_reviewed" in actions(a.id)


# ---------------------------------------------------------------- article from ticket


def test_draft_from_ticket_refuses_personal_data_until_removed_or_confirmed(make_ticket, agent, patient):
    t = make_ticket()
    tickets.post_message(t, author=agent, body="Hi Maria Lopez, I removed the duplicate charge from your "
                                                "statement of 03/14/2024. Call 555-123-4567 if it shows again.",
                         next_status=Status.RESOLVED)
    answer = services.ticket_answer(t)
    data = article_data(title="Duplicate charge on a statement", summary="How we fix duplicate charges.",
                        body_md=answer, queues=["billing"])
    with pytest.raises(ValidationFailed) as err:
        services.draft_from_ticket(t, actor=agent, data=data, confirmed_no_personal_data=False)
    assert "confirm" in err.value.fields and count(Article) == 0
    clean = article_data(title="Duplicate charge on a statement", summary="How we fix duplicate charges.",
                         body_md="We remove duplicate charges from the statement. Call us if it shows again.")
    article = services.draft_from_ticket(t, actor=agent, data=clean, confirmed_no_personal_data=False)
    assert article.status == ArticleStatus.DRAFT and article.source_ticket_id == t.id
    confirmed = services.draft_from_ticket(t, actor=agent, data=data, confirmed_no_personal_data=True)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "kb.article_created",
                                                          AuditEvent.object_id == str(confirmed.id)))
    assert event.changes["personal_data_confirmed"] is True and event.changes["personal_data_hits"] >= 3
    assert "Maria" not in str(event.changes)  # counts and kinds only


def test_draft_from_ticket_needs_a_resolved_ticket_the_agent_works(make_ticket, agent, outsider_agent):
    t = make_ticket()
    with pytest.raises(InvalidTransition):
        services.draft_from_ticket(t, actor=agent, data=article_data(), confirmed_no_personal_data=True)
    tickets.update_ticket(t, actor=agent, status=Status.RESOLVED)
    with pytest.raises(NotFound):
        services.draft_from_ticket(t, actor=outsider_agent, data=article_data(), confirmed_no_personal_data=True)


def test_personal_data_spans(ctx):
    from helpdesk.kb.pii import find_in_fields, segments

    text = "Hello Maria, your MRN 12345678 and email maria@example.org, born March 3, 1984."
    hits = find_in_fields({"body_md": text}, names=["Maria Lopez", "Maria"])
    kinds = {h.kind for h in hits}
    assert {"name", "mrn", "email", "date"} <= kinds
    joined = "".join(s.text for s in segments(text, hits))
    assert joined == text and any(s.kind == "email" and s.text == "maria@example.org" for s in segments(text, hits))


# ---------------------------------------------------------------- links, feedback, deflections, numbers


def test_linking_articles_to_tickets_is_audited_and_counted(make_ticket, make_article, agent, outsider_agent):
    t = make_ticket()
    a = make_article()
    assert services.link_ticket(t, a, actor=agent) is True
    assert services.link_ticket(t, a, actor=agent) is False  # once only
    assert services.resolved_count(a.id) == 1 and [lk.article_id for lk in services.linked_articles(t)] == [a.id]
    with pytest.raises(NotFound):
        services.link_ticket(t, a, actor=outsider_agent)
    draft = make_article(status="draft", title="Unfinished")
    with pytest.raises(InvalidTransition):
        services.link_ticket(t, draft, actor=agent)
    services.unlink_ticket(t, a.id, actor=agent)
    assert count(TicketArticleLink) == 0
    with pytest.raises(NotFound):
        services.unlink_ticket(t, a.id, actor=agent)
    linked = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_id == t.reference)).all()
    assert "kb.ticket_linked" in linked and "kb.ticket_unlinked" in linked


def test_deflections_keep_only_the_length_of_the_question(make_article, patient, agent):
    a = make_article()
    row = services.record_deflection(a, user=patient, query_length="57", source="typeahead")
    assert (row.query_length, row.source) == (57, "typeahead")
    assert {c.name for c in Deflection.__table__.columns} == {
        "id", "article_id", "user_id", "query_length", "source", "created_at"}
    with pytest.raises(Forbidden):
        services.record_deflection(a, user=agent, query_length=3)
    internal = make_article(audience="internal", title="Internal procedure")
    with pytest.raises(NotFound):
        services.record_deflection(internal, user=patient, query_length=3)


def test_feedback_validation(make_article, patient):
    a = make_article()
    services.record_feedback(a, user=patient, helpful="yes")
    services.record_feedback(a, user=None, helpful="no", reason="Steps did not match the app")
    with pytest.raises(ValidationFailed):
        services.record_feedback(a, user=None, helpful="maybe")
    with pytest.raises(ValidationFailed):
        services.record_feedback(a, user=None, helpful="no", reason="x" * 501)
    assert count(ArticleFeedback) == 2


def test_kb_stats_aggregates_per_article_in_sql(make_article, make_ticket, agent, patient, supervisor):
    a = make_article()
    b = make_article(title="Set up a payment plan", queues=["billing"], audience="internal")
    make_article(status="draft", title="A draft that is not counted")
    for _ in range(3):
        services.record_view(a)
    services.record_view(b)
    services.record_feedback(a, user=patient, helpful="yes")
    services.record_feedback(a, user=None, helpful="yes")
    services.record_feedback(a, user=None, helpful="no")
    services.record_deflection(a, user=patient, query_length=20)
    services.link_ticket(make_ticket(), b, actor=agent)
    services.change_status(b, actor=supervisor, status="archived")

    data = services.kb_stats()
    rows = {r["id"]: r for r in data["articles"]}
    assert set(rows) == {a.id, b.id}
    assert rows[a.id] | {"review_due_at": None} == rows[a.id] | {
        "views": 3, "helpful": 2, "not_helpful": 1, "helpful_pct": 66.7, "resolved_tickets": 0, "deflections": 1,
        "review_due_at": None}
    assert rows[b.id]["resolved_tickets"] == 1 and rows[b.id]["status"] == "archived"
    assert data["totals"] == {"articles": 2, "views": 4, "helpful": 2, "not_helpful": 1, "helpful_pct": 66.7,
                              "resolved_tickets": 1, "deflections": 1, "due_for_review": 0}
    assert [r["id"] for r in services.kb_stats(queue_slugs=["billing"])["articles"]] == [b.id]
    assert services.kb_stats(since=utcnow() + timedelta(days=1))["totals"]["views"] == 0
    future = services.kb_stats(now=utcnow() + timedelta(days=200))
    assert future["totals"]["due_for_review"] == 1 and future["due_for_review"][0]["id"] == a.id
    import json

    json.dumps(data)  # plain data


def test_seed_loader_is_idempotent(ctx, queues, supervisor):
    from helpdesk.kb.seed import seed_articles

    first = seed_articles(author=supervisor)
    assert first >= 30 and seed_articles(author=supervisor) == 0
    assert count(Article) == first
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Article).where(Article.author_id == supervisor.id)) \
        == first


def test_content_parser_reports_malformed_files(tmp_path):
    from helpdesk.kb.frontmatter import ContentError, parse

    with pytest.raises(ContentError, match="front-matter"):
        parse("no header", source="x.md")
    with pytest.raises(ContentError, match="missing title"):
        parse("---\nsummary: s\ncategory: c\naudience: public\nlanguage: en\n---\nbody", source="x.md")
    item = parse("---\ntitle: T\nsummary: S\ncategory: C\nqueues: a, b\naudience: Public\nlanguage: es\n---\n# Body\n",
                 source="07-my-slug.md")
    assert (item.slug, item.queues, item.audience, item.language) == ("my-slug", ("a", "b"), "public", "es")


def test_a_slow_index_is_rebuilt_in_the_background_while_the_old_one_answers(app, make_article, supervisor,
                                                                              monkeypatch):
    import threading
    import time

    from helpdesk.kb import index as kb_index

    first = make_article(title="Parking and directions", summary="Where to park.", category="General",
                         body_md="Visitor parking is in garage B.")
    assert [r.article.id for r in search_articles("parking garage")] == [first.id]
    monkeypatch.setattr(kb_index, "SYNC_BUILD_SECONDS", -1.0)  # every build now counts as slow
    gate = threading.Event()
    real_build = kb_index.build_index

    def gated_build(generation):
        if threading.current_thread().name == "kb-index-rebuild":
            gate.wait(10)  # hold the background rebuild until the test has looked
        return real_build(generation)

    monkeypatch.setattr(kb_index, "build_index", gated_build)
    second = make_article(title="Parking garage closures", summary="When garage B is closed.", category="General",
                          body_md="Garage B closes for cleaning on Sundays.")
    stale = [r.article.id for r in search_articles("parking garage")]
    assert stale == [first.id] and kb_index.cache(app).building  # answered at once from the previous index…
    gate.set()
    deadline = time.monotonic() + 10
    while kb_index.cache(app).building and time.monotonic() < deadline:
        time.sleep(0.02)
    assert second.id in [r.article.id for r in search_articles("parking garage")]  # …then from the new one
    services.change_status(second, actor=supervisor, status="archived")
    # archived a moment ago: whichever index answers, the SQL re-check drops it
    assert second.id not in [r.article.id for r in search_articles("parking garage")]
    while kb_index.cache(app).building and time.monotonic() < deadline + 10:
        time.sleep(0.02)  # let the rebuild finish before the next test empties the tables
