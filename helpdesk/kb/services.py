"""Knowledge-base services: the one way articles, links, feedback and deflections change.

Each public function is one unit of work (CONVENTIONS rule 4): it checks permissions
and rules, writes audit rows and commits once through ``helpdesk.db.unit_of_work``; on error
nothing is half-written. Changes to the published set replace the search index's
generation token and enqueue ``helpdesk.kb.tasks.rebuild_index`` (after the commit).
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from helpdesk import audit, jobs, policy
from helpdesk.auth.models import User
from helpdesk.db import conflict_insert
from helpdesk.db import unit_of_work as _unit_of_work
from helpdesk.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.kb.markdown import render
from helpdesk.kb.models import (
    ARTICLE_TRANSITIONS,
    DEFAULT_REVIEW_INTERVAL_DAYS,
    Article,
    ArticleFeedback,
    ArticleQueue,
    ArticleStatus,
    ArticleVersion,
    ArticleViewDay,
    Audience,
    Deflection,
    KbIndexState,
    Language,
    TicketArticleLink,
)
from helpdesk.kb.pii import find_in_fields
from helpdesk.kb.text import clean_block, clean_line, slugify
from helpdesk.permissions import (
    can_be_granted_kb_editor,
    can_edit_article,
    can_manage_kb_editors,
    can_propose_article,
    can_record_deflection,
    can_view_article,
    can_work_ticket,
    is_kb_editor,
    is_public_article,
    public_article_clause,
)
from helpdesk.tickets.models import Queue, Status, Ticket
from helpdesk.timeutil import utcnow

MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 500
MAX_CATEGORY_CHARS = 80
MAX_BODY_CHARS = 100_000
MAX_REASON_CHARS = 500
MAX_NOTE_CHARS = 200
REVIEW_INTERVAL_RANGE = (7, 1095)
DEFLECTION_SOURCES = ("get_help", "typeahead", "help_centre")
CHANGED_SINCE_OPENED = (
    "This article changed since you opened it. Nothing was overwritten: your text is still "
    "in the form, and the differences from the current version are shown. Check them, then save again."
)
REBUILD_JOB = "helpdesk.kb.tasks.rebuild_index"


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class ArticleInput:
    title: str
    summary: str
    body_md: str
    category: str
    queues: tuple[str, ...]
    audience: Audience
    language: Language
    review_interval_days: int = DEFAULT_REVIEW_INTERVAL_DAYS

    def meta(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "queues": list(self.queues),
            "audience": self.audience.value,
            "language": self.language.value,
            "review_interval_days": self.review_interval_days,
        }


def _text(data: Mapping[str, Any], name: str, label: str, max_len: int, errors: dict[str, list[str]],
          *, block: bool = False) -> str:
    raw = data.get(name)
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        errors[name] = ["Must be text."]
        return ""
    if len(raw) > max_len * 2 + 1000:  # refuse before any work on a huge value
        errors[name] = [_too_long(label, len(raw), max_len)]
        return ""
    value = clean_block(raw) if block else clean_line(raw)
    if not value:
        errors[name] = [f"{label} can't be empty."]
    elif len(value) > max_len:
        errors[name] = [_too_long(label, len(value), max_len)]
    return value


def _too_long(label: str, n: int, max_len: int) -> str:
    if label == "The article":
        return (f"The article is too long: {n:,} characters. The limit is {max_len:,}; "
                "split it into several articles.")
    return f"{label} is too long ({n:,} characters); the limit is {max_len:,}."


def parse_article_input(data: Mapping[str, Any]) -> ArticleInput:
    """Validate an article form or payload; ValidationFailed lists every bad field."""
    errors: dict[str, list[str]] = {}
    title = _text(data, "title", "The title", MAX_TITLE_CHARS, errors)
    summary = _text(data, "summary", "The summary", MAX_SUMMARY_CHARS, errors)
    body = _text(data, "body_md", "The article", MAX_BODY_CHARS, errors, block=True)
    category = _text(data, "category", "The category", MAX_CATEGORY_CHARS, errors)
    raw_queues = data.get("queues") or ()
    if isinstance(raw_queues, str):
        raw_queues = [q for q in raw_queues.split(",")]
    queues: list[str] = []
    if not isinstance(raw_queues, list | tuple) or not all(isinstance(q, str) for q in raw_queues):
        errors["queues"] = ["Choose queues from the list."]
    else:
        queues = sorted({q.strip() for q in raw_queues if q.strip()})
        if len(queues) > 20:
            errors["queues"] = ["Choose at most 20 queues."]
    audience = _choice(Audience, data.get("audience", Audience.PUBLIC.value), "audience", errors)
    language = _choice(Language, data.get("language", Language.EN.value), "language", errors)
    interval = data.get("review_interval_days", DEFAULT_REVIEW_INTERVAL_DAYS)
    lo, hi = REVIEW_INTERVAL_RANGE
    try:
        interval = int(interval if interval not in (None, "") else DEFAULT_REVIEW_INTERVAL_DAYS)
        if not lo <= interval <= hi:
            raise ValueError
    except (TypeError, ValueError):
        errors["review_interval_days"] = [f"A number of days between {lo} and {hi}."]
        interval = DEFAULT_REVIEW_INTERVAL_DAYS
    _check_placeholders(title, summary, body, errors)
    if queues and "queues" not in errors:
        known = set(db.session.scalars(sa.select(Queue.slug).where(Queue.slug.in_(queues))))
        unknown = [q for q in queues if q not in known]
        if unknown:
            errors["queues"] = [f"Unknown queue: {', '.join(unknown)[:200]}."]
    if errors:
        first = next(iter(errors.values()))[0]
        message = first if len(errors) == 1 else "Please correct the highlighted fields."
        raise ValidationFailed(message, fields=errors)
    return ArticleInput(title, summary, body, category, tuple(queues), audience, language, interval)  # type: ignore[arg-type]


def _check_placeholders(title: str, summary: str, body: str, errors: dict[str, list[str]]) -> None:
    """``{{ policy.name }}`` works in the summary and the text, with names from helpdesk.policy."""
    if policy.STARTED.search(title):
        errors.setdefault("title", []).append(
            "Policy placeholders work in the summary and the article text, not in the title.")
    for name, text in (("summary", summary), ("body_md", body)):
        unknown = policy.unknown_names(text)
        if unknown:
            errors.setdefault(name, []).append(
                f"Unknown placeholder: {', '.join(unknown)[:200]}. Use one of the names listed under "
                "“Values from the product's settings”, written as {{ policy.name }}.")


def _choice(enum_cls: Any, value: Any, name: str, errors: dict[str, list[str]]) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        errors[name] = [f"One of: {', '.join(m.value for m in enum_cls)}."]
        return None


# ---------------------------------------------------------------- helpers (never commit)


def _expect_version(article: Article, expected_version: Any) -> None:
    if expected_version is None:
        return
    try:
        expected = int(expected_version)
    except (TypeError, ValueError):
        raise ValidationFailed("The form is out of date; reload the page.") from None
    if expected != article.version:
        raise Conflict(CHANGED_SINCE_OPENED)


def _set_queues(article: Article, slugs: Sequence[str]) -> None:
    queues = list(db.session.scalars(sa.select(Queue).where(Queue.slug.in_(list(slugs))))) if slugs else []
    wanted = {q.id for q in queues}
    article.queue_links = [link for link in article.queue_links if link.queue_id in wanted]
    have = {link.queue_id for link in article.queue_links}
    for q in queues:
        if q.id not in have:
            article.queue_links.append(ArticleQueue(queue=q))


def _snapshot(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "summary": article.summary,
        "body_md": article.body_md,
        "category": article.category,
        "queues": article.queue_slugs,
        "audience": article.audience.value,
        "language": article.language.value,
        "review_interval_days": article.review_interval_days,
    }


def _apply(article: Article, data: ArticleInput) -> None:
    article.title = data.title
    article.summary = data.summary
    article.body_md = data.body_md
    article.body_html = render(data.body_md)
    article.category = data.category
    article.audience = data.audience
    article.language = data.language
    article.review_interval_days = data.review_interval_days
    _set_queues(article, data.queues)


def _add_version(article: Article, *, actor: User | None, number: int, note: str = "") -> ArticleVersion:
    version = ArticleVersion(
        article=article, number=number, title=article.title, summary=article.summary, body_md=article.body_md,
        meta={"category": article.category, "queues": article.queue_slugs, "audience": article.audience.value,
              "language": article.language.value, "review_interval_days": article.review_interval_days},
        note=clean_line(note)[:MAX_NOTE_CHARS] if isinstance(note, str) else "",
        author_id=actor.id if actor else None,
    )
    db.session.add(version)
    return version


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Audit details: metadata before/after; for long text only that it changed."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        if before.get(key) == value:
            continue
        if key in ("summary", "body_md"):
            out[key] = {"changed": True}
        else:
            out[key] = {"before": before.get(key), "after": value}
    return out


def _unused_slug(title: str) -> str:
    base = slugify(title, max_len=100)
    taken = set(db.session.scalars(sa.select(Article.slug).where(
        sa.or_(Article.slug == base, Article.slug.like(f"{base}-%")))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def bump_generation() -> None:
    """The published set changed: give the search index a new generation token and
    warm it in a job (both in this transaction)."""
    token = uuid.uuid4().hex
    result = db.session.execute(
        sa.update(KbIndexState).where(KbIndexState.id == 1).values(generation=token, changed_at=utcnow())
    )
    if not result.rowcount:
        db.session.add(KbIndexState(id=1, generation=token))


def _published_changed(article: Article, *, enqueue: bool = True) -> None:
    bump_generation()
    db.session.flush()
    if enqueue:
        jobs.enqueue(REBUILD_JOB, article.id)


@contextmanager
def unit_of_work() -> Iterator[None]:
    """``helpdesk.db.unit_of_work`` (everything or nothing), where a concurrent save of
    the same article (the optimistic lock's ``WHERE version = …`` matched no row) becomes
    a Conflict."""
    try:
        with _unit_of_work():
            yield
            db.session.flush()
    except StaleDataError:
        raise Conflict(CHANGED_SINCE_OPENED) from None


def _visible(actor: User | None, article: Article) -> None:
    if not can_view_article(actor, article):
        raise NotFound("No article here.")


# ---------------------------------------------------------------- articles


def create_article(
    *,
    actor: User | None,
    data: Mapping[str, Any] | ArticleInput,
    status: ArticleStatus = ArticleStatus.DRAFT,
    slug: str | None = None,
    note: str = "",
    source_ticket: Ticket | None = None,
    audit_details: dict[str, Any] | None = None,
    author: User | None = None,
    warm_index: bool = True,
) -> Article:
    """A new article (revision 1). Staff propose drafts; only the seed loader (actor
    None, naming an ``author``) or an editor may create one that is already published.
    ``warm_index=False`` skips the rebuild job (a bulk load rebuilds once, lazily)."""
    with unit_of_work():
        article = _create(actor=actor, data=data, status=status, slug=slug, note=note,
                          source_ticket=source_ticket, audit_details=audit_details, author=author,
                          warm_index=warm_index)
    return article


def _create(*, actor, data, status, slug, note, source_ticket, audit_details, author=None,
            warm_index=True) -> Article:
    if actor is not None and not can_propose_article(actor):
        raise Forbidden("Only staff can write articles.")
    status = ArticleStatus(status)
    if status != ArticleStatus.DRAFT and actor is not None and not is_kb_editor(actor):
        raise Forbidden("Only knowledge-base editors can publish.")
    values = data if isinstance(data, ArticleInput) else parse_article_input(data)
    now = utcnow()
    article = Article(
        slug=_unused_slug(slug or values.title), status=status, revision=1,
        author_id=(actor or author).id if (actor or author) else None,
        updated_by_id=actor.id if actor else None, source_ticket_id=source_ticket.id if source_ticket else None,
        created_at=now, updated_at=now,
    )
    db.session.add(article)
    _apply(article, values)
    if status == ArticleStatus.PUBLISHED:
        article.published_at = article.reviewed_at = now
        article.review_due_at = now + timedelta(days=article.review_interval_days)
    elif status == ArticleStatus.ARCHIVED:
        article.archived_at = now
    _add_version(article, actor=actor, number=1, note=note or "Created")
    db.session.flush()
    audit.record("kb.article_created", "kb_article", article.id, actor_id=actor.id if actor else None, changes={
        "slug": article.slug, "title": article.title, "status": status.value, "audience": article.audience.value,
        "language": article.language.value, **(audit_details or {}),
    })
    if status == ArticleStatus.PUBLISHED:
        audit.record("kb.article_published", "kb_article", article.id, actor_id=actor.id if actor else None,
                     changes={"revision": 1})
        _published_changed(article, enqueue=warm_index)
    return article


def save_article(
    article: Article, *, actor: User, data: Mapping[str, Any] | ArticleInput, expected_version: Any,
    note: str = "",
) -> Article:
    """Save new content as the next revision. ``expected_version`` is the version the
    form was opened with: if someone saved in between, Conflict and nothing changes."""
    with unit_of_work():
        _visible(actor, article)
        if not can_edit_article(actor, article):
            raise Forbidden("You can't edit this article." if is_kb_editor(actor) or article.status != ArticleStatus.DRAFT
                            else "Only knowledge-base editors can change an article once it is submitted.")
        _expect_version(article, expected_version)
        values = data if isinstance(data, ArticleInput) else parse_article_input(data)
        before = _snapshot(article)
        after = {**values.meta(), "title": values.title, "summary": values.summary, "body_md": values.body_md}
        after["queues"] = sorted(after["queues"])
        if all(before.get(k) == v for k, v in after.items()):
            raise ValidationFailed(f"Nothing changed: this is the same as revision {article.revision}.")
        _apply(article, values)
        article.revision += 1
        article.updated_at = utcnow()
        article.updated_by_id = actor.id
        _add_version(article, actor=actor, number=article.revision, note=note)
        audit.record("kb.article_saved", "kb_article", article.id, actor_id=actor.id,
                     changes={"revision": article.revision, **_changes(before, _snapshot(article))})
        if article.status == ArticleStatus.PUBLISHED:
            _published_changed(article)
    return article


_STATUS_ACTIONS = {
    ArticleStatus.IN_REVIEW: "kb.article_submitted",
    ArticleStatus.PUBLISHED: "kb.article_published",
    ArticleStatus.ARCHIVED: "kb.article_archived",
    ArticleStatus.DRAFT: "kb.article_returned_to_draft",
}


def change_status(article: Article, *, actor: User, status: ArticleStatus | str, expected_version: Any = None) -> Article:
    """Move an article through draft → in review → published → archived (→ draft)."""
    with unit_of_work():
        _visible(actor, article)
        try:
            target = ArticleStatus(status)
        except ValueError:
            raise ValidationFailed("Unknown status.", fields={"status": [
                f"One of: {', '.join(s.value for s in ArticleStatus)}."]}) from None
        _expect_version(article, expected_version)
        if target not in ARTICLE_TRANSITIONS[article.status]:
            raise InvalidTransition(f"An article can't go from '{article.status.label}' to '{target.label}'.")
        author_submits = (
            target == ArticleStatus.IN_REVIEW and article.author_id == actor.id and can_propose_article(actor)
        )
        if not (is_kb_editor(actor) or author_submits):
            raise Forbidden("Only knowledge-base editors can do this.")
        before = article.status
        now = utcnow()
        article.status = target
        article.updated_at = now
        article.updated_by_id = actor.id
        changes: dict[str, Any] = {"status": {"before": before.value, "after": target.value},
                                   "revision": article.revision}
        if target == ArticleStatus.PUBLISHED:
            article.published_at = article.reviewed_at = now
            article.review_due_at = now + timedelta(days=article.review_interval_days)
            article.archived_at = None
            changes["review_due_at"] = article.review_due_at.isoformat()
        elif target == ArticleStatus.ARCHIVED:
            article.archived_at = now
        audit.record(_STATUS_ACTIONS[target], "kb_article", article.id, actor_id=actor.id, changes=changes)
        if ArticleStatus.PUBLISHED in (before, target):
            _published_changed(article)
    return article


def mark_reviewed(article: Article, *, actor: User, expected_version: Any = None) -> Article:
    """An editor checked a published article: the next review is one interval away."""
    with unit_of_work():
        _visible(actor, article)
        if not is_kb_editor(actor):
            raise Forbidden("Only knowledge-base editors can do this.")
        _expect_version(article, expected_version)
        if article.status != ArticleStatus.PUBLISHED:
            raise InvalidTransition("Only published articles are reviewed.")
        now = utcnow()
        before = article.review_due_at
        article.reviewed_at = now
        article.review_due_at = now + timedelta(days=article.review_interval_days)
        audit.record("kb.article_reviewed", "kb_article", article.id, actor_id=actor.id, changes={
            "review_due_at": {"before": before.isoformat() if before else None,
                              "after": article.review_due_at.isoformat()}})
    return article


def restore_version(article: Article, *, actor: User, number: Any, expected_version: Any) -> Article:
    """Save an earlier revision's content again, as a new revision (history is kept)."""
    with unit_of_work():
        _visible(actor, article)
        if not is_kb_editor(actor):
            raise Forbidden("Only knowledge-base editors can restore a version.")
        _expect_version(article, expected_version)
        old = get_version(article, number)
        if old.number == article.revision:
            raise ValidationFailed("That is already the current revision.")
        meta = old.meta or {}
        queues = [q for q in meta.get("queues", []) if isinstance(q, str)]
        existing = set(db.session.scalars(sa.select(Queue.slug).where(Queue.slug.in_(queues)))) if queues else set()
        values = ArticleInput(
            title=old.title, summary=old.summary, body_md=old.body_md,
            category=str(meta.get("category") or article.category),
            queues=tuple(q for q in queues if q in existing),
            audience=Audience(meta.get("audience", article.audience.value)),
            language=Language(meta.get("language", article.language.value)),
            review_interval_days=int(meta.get("review_interval_days") or article.review_interval_days),
        )
        before = _snapshot(article)
        _apply(article, values)
        article.revision += 1
        article.updated_at = utcnow()
        article.updated_by_id = actor.id
        _add_version(article, actor=actor, number=article.revision, note=f"Restored revision {old.number}")
        audit.record("kb.article_restored", "kb_article", article.id, actor_id=actor.id, changes={
            "restored_revision": old.number, "revision": article.revision, **_changes(before, _snapshot(article))})
        if article.status == ArticleStatus.PUBLISHED:
            _published_changed(article)
    return article


def get_version(article: Article, number: Any) -> ArticleVersion:
    try:
        n = int(number)
    except (TypeError, ValueError):
        raise NotFound("No such version.") from None
    version = db.session.scalar(
        sa.select(ArticleVersion).where(ArticleVersion.article_id == article.id, ArticleVersion.number == n)
    )
    if version is None:
        raise NotFound("No such version.")
    return version


@dataclass(frozen=True)
class VersionDiff:
    fields: list[dict[str, Any]]
    body: list[tuple[str, str]] = field(default_factory=list)  # (" " | "+" | "-", line)

    @property
    def changed(self) -> bool:
        return bool(self.fields) or any(op != " " for op, _ in self.body)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def diff_texts(old: dict[str, Any], new: dict[str, Any]) -> VersionDiff:
    """What changed between two snapshots: fields before/after and a line diff of the body."""
    fields = []
    for key, label in (("title", "Title"), ("summary", "Summary"), ("category", "Category"), ("queues", "Queues"),
                       ("audience", "Audience"), ("language", "Language"),
                       ("review_interval_days", "Review interval (days)")):
        a, b = old.get(key), new.get(key)
        if a != b:
            fields.append({"label": label, "before": _fmt(a), "after": _fmt(b)})
    lines = []
    for line in difflib.ndiff(str(old.get("body_md", "")).splitlines(), str(new.get("body_md", "")).splitlines()):
        op = line[:1]
        if op in (" ", "+", "-"):
            lines.append((op, line[2:]))
    return VersionDiff(fields, lines)


def version_snapshot(version: ArticleVersion) -> dict[str, Any]:
    return {"title": version.title, "summary": version.summary, "body_md": version.body_md, **(version.meta or {})}


def article_snapshot(article: Article) -> dict[str, Any]:
    return _snapshot(article)


# ---------------------------------------------------------------- article from ticket


def ticket_answer(ticket: Ticket) -> str:
    """The answer to turn into an article: the last public reply by staff."""
    for message in reversed(ticket.messages):
        if message.public and message.from_staff:
            return message.current_body
    return ""


def requester_identifiers(ticket: Ticket) -> list[str]:
    """Names and identifiers of the requester to look for in a draft."""
    person = ticket.requester
    names = [person.display_name, *person.display_name.split()] if person.display_name else []
    if person.mrn:
        names.append(person.mrn)
    return [n for n in dict.fromkeys(names) if len(n) >= 2]


def draft_from_ticket(
    ticket: Ticket, *, actor: User, data: Mapping[str, Any], confirmed_no_personal_data: bool,
) -> Article:
    """Turn a resolved ticket's answer into a draft. Text that looks like personal data
    must be removed, or the author confirms it is not patient information."""
    with unit_of_work():
        if not can_work_ticket(actor, ticket):
            raise NotFound("No request with that reference.")
        if ticket.status not in (Status.RESOLVED, Status.CLOSED):
            raise InvalidTransition("Only a resolved request can become an article.")
        values = parse_article_input(data)
        hits = find_in_fields({"title": values.title, "summary": values.summary, "body_md": values.body_md},
                              names=requester_identifiers(ticket))
        if hits and not confirmed_no_personal_data:
            raise ValidationFailed(
                f"This draft contains {len(hits)} passage(s) that look like personal data. Remove them, or "
                "confirm that they are not patient information.",
                fields={"confirm": ["Remove the highlighted text or tick the confirmation."]},
            )
        article = _create(
            actor=actor, data=values, status=ArticleStatus.DRAFT, slug=None, note=f"From request {ticket.reference}",
            source_ticket=ticket, audit_details={
                "from_ticket": ticket.reference, "personal_data_hits": len(hits),
                "personal_data_confirmed": bool(hits and confirmed_no_personal_data),
                "personal_data_kinds": sorted({h.kind for h in hits}),
            },
        )
    return article


# ---------------------------------------------------------------- tickets ⇄ articles


def link_ticket(ticket: Ticket, article: Article, *, actor: User) -> bool:
    """Record that ``article`` resolved ``ticket``. Returns False if it already was."""
    try:
        with _unit_of_work():
            if not can_work_ticket(actor, ticket):
                raise NotFound("No request with that reference.")
            _visible(actor, article)
            if article.status != ArticleStatus.PUBLISHED:
                raise InvalidTransition("Only published articles can be linked.")
            exists = db.session.scalar(sa.select(TicketArticleLink.id).where(
                TicketArticleLink.ticket_id == ticket.id, TicketArticleLink.article_id == article.id))
            if exists:
                return False
            db.session.add(TicketArticleLink(ticket_id=ticket.id, article_id=article.id, linked_by_id=actor.id))
            audit.record("kb.ticket_linked", "ticket", ticket.reference, actor_id=actor.id,
                         changes={"article_id": article.id, "article": article.slug})
            db.session.flush()
    except sa.exc.IntegrityError:
        return False  # linked by someone else a moment ago (the unit rolled back)
    return True


def unlink_ticket(ticket: Ticket, article_id: int, *, actor: User) -> None:
    with unit_of_work():
        if not can_work_ticket(actor, ticket):
            raise NotFound("No request with that reference.")
        link = db.session.scalar(sa.select(TicketArticleLink).where(
            TicketArticleLink.ticket_id == ticket.id, TicketArticleLink.article_id == article_id))
        if link is None:
            raise NotFound("That article is not linked to this request.")
        slug = link.article.slug
        db.session.delete(link)
        audit.record("kb.ticket_unlinked", "ticket", ticket.reference, actor_id=actor.id,
                     changes={"article_id": article_id, "article": slug})


def linked_articles(ticket: Ticket) -> list[TicketArticleLink]:
    return list(db.session.scalars(
        sa.select(TicketArticleLink).where(TicketArticleLink.ticket_id == ticket.id)
        .order_by(TicketArticleLink.created_at, TicketArticleLink.id)
    ))


def resolved_count(article_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(TicketArticleLink).where(TicketArticleLink.article_id == article_id)
    ) or 0


# ---------------------------------------------------------------- patients: views, feedback, deflections


def record_view(article: Article) -> None:
    """Count a read (one counter row per article and day, updated in place)."""
    with unit_of_work():
        _upsert_view(article.id, utcnow().date())


def _upsert_view(article_id: int, day: date) -> None:
    insert = conflict_insert(ArticleViewDay, db.session.get_bind().dialect.name)
    if insert is None:  # pragma: no cover - other databases: update, else insert
        updated = db.session.execute(sa.update(ArticleViewDay).where(
            ArticleViewDay.article_id == article_id, ArticleViewDay.day == day).values(views=ArticleViewDay.views + 1))
        if not updated.rowcount:
            db.session.add(ArticleViewDay(article_id=article_id, day=day, views=1))
        return
    stmt = insert.values(article_id=article_id, day=day, views=1)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["article_id", "day"], set_={"views": ArticleViewDay.views + 1}))


def record_feedback(article: Article, *, user: User | None, helpful: Any, reason: Any = None) -> ArticleFeedback:
    """"Was this helpful?" from the help centre (signed in or not)."""
    with unit_of_work():
        _visible(user, article)
        if article.status != ArticleStatus.PUBLISHED:
            raise NotFound("No article here.")
        if helpful not in ("yes", "no", True, False):
            raise ValidationFailed("Choose Yes or No.", fields={"helpful": ["Choose Yes or No."]})
        text = None
        if reason not in (None, ""):
            if not isinstance(reason, str):
                raise ValidationFailed("The reason must be text.", fields={"reason": ["Must be text."]})
            text = clean_block(reason) or None
            if text and len(text) > MAX_REASON_CHARS:
                raise ValidationFailed(
                    f"Please keep the reason under {MAX_REASON_CHARS} characters.",
                    fields={"reason": [f"At most {MAX_REASON_CHARS} characters."]},
                )
        row = ArticleFeedback(article_id=article.id, helpful=helpful in ("yes", True), reason=text,
                              user_id=user.id if user else None)
        db.session.add(row)
    return row


def record_deflection(article: Article, *, user: User, query_length: Any, source: str = "get_help") -> Deflection:
    """"This answered my question": no request is sent. Only the question's length is
    kept, never its text."""
    with unit_of_work():
        if not can_record_deflection(user):
            raise Forbidden("Only patients can do this.")
        if not is_public_article(article):
            raise NotFound("No article here.")
        try:
            length = max(0, min(int(query_length), 100_000))
        except (TypeError, ValueError):
            length = 0
        row = Deflection(article_id=article.id, user_id=user.id, query_length=length,
                         source=source if source in DEFLECTION_SOURCES else "get_help")
        db.session.add(row)
    return row


# ---------------------------------------------------------------- editors


def set_kb_editor(*, actor: User | None, user: User, value: bool) -> User:
    """An admin (or the command line, actor None) grants or withdraws the editor
    permission of an agent or admin."""
    with unit_of_work():
        if actor is not None and not can_manage_kb_editors(actor):
            raise Forbidden("Only admins can grant the editor permission.")
        if not can_be_granted_kb_editor(user):
            raise ValidationFailed("Supervisors are always editors; patients and integrations can't be.")
        if bool(user.kb_editor) == bool(value):
            raise ValidationFailed("Nothing changed.")
        user.kb_editor = bool(value)
        audit.record("user.kb_editor_granted" if value else "user.kb_editor_revoked", "user", user.id,
                     actor_id=actor.id if actor else None, changes={"kb_editor": {"before": not value, "after": bool(value)}})
    return user


def overdue_articles(now: datetime | None = None, limit: int = 100) -> list[Article]:
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(Article).where(Article.status == ArticleStatus.PUBLISHED, Article.review_due_at <= now)
        .order_by(Article.review_due_at, Article.id).limit(limit)
    ))


def articles_in_review(limit: int = 100) -> list[Article]:
    return list(db.session.scalars(
        sa.select(Article).where(Article.status == ArticleStatus.IN_REVIEW)
        .order_by(Article.updated_at, Article.id).limit(limit)
    ))


# ---------------------------------------------------------------- numbers for supervisors


def kb_stats(queue_slugs: Sequence[str] | None = None, since: datetime | None = None, *, limit: int = 100,
             now: datetime | None = None) -> dict[str, Any]:
    """Views, helpful %, tickets resolved with, deflections per article and the articles
    due for review — aggregated in SQL, returned as plain, JSON-ready data.

    ``queue_slugs`` keeps articles related to any of those queues; ``since`` counts
    activity from then on (views by day). Articles listed: published or archived, most
    viewed first, at most ``limit``; the totals cover all of them.
    """
    now = now or utcnow()
    views = sa.select(ArticleViewDay.article_id.label("aid"), sa.func.sum(ArticleViewDay.views).label("n"))
    feedback = sa.select(
        ArticleFeedback.article_id.label("aid"),
        sa.func.sum(sa.case((ArticleFeedback.helpful.is_(True), 1), else_=0)).label("yes"),
        sa.func.count().label("n"),
    )
    links = sa.select(TicketArticleLink.article_id.label("aid"), sa.func.count().label("n"))
    deflections = sa.select(Deflection.article_id.label("aid"), sa.func.count().label("n"))
    if since is not None:
        views = views.where(ArticleViewDay.day >= since.date())
        feedback = feedback.where(ArticleFeedback.created_at >= since)
        links = links.where(TicketArticleLink.created_at >= since)
        deflections = deflections.where(Deflection.created_at >= since)
    v = views.group_by(ArticleViewDay.article_id).subquery()
    f = feedback.group_by(ArticleFeedback.article_id).subquery()
    lk = links.group_by(TicketArticleLink.article_id).subquery()
    d = deflections.group_by(Deflection.article_id).subquery()

    n_views = sa.func.coalesce(v.c.n, 0)
    n_yes = sa.func.coalesce(f.c.yes, 0)
    n_feedback = sa.func.coalesce(f.c.n, 0)
    n_links = sa.func.coalesce(lk.c.n, 0)
    n_deflections = sa.func.coalesce(d.c.n, 0)
    scope = [Article.status.in_([ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED])]
    if queue_slugs:
        scope.append(Article.id.in_(
            sa.select(ArticleQueue.article_id).join(Queue, Queue.id == ArticleQueue.queue_id)
            .where(Queue.slug.in_(list(queue_slugs)))
        ))

    def joined(stmt):
        return (stmt.select_from(Article)
                .outerjoin(v, v.c.aid == Article.id).outerjoin(f, f.c.aid == Article.id)
                .outerjoin(lk, lk.c.aid == Article.id).outerjoin(d, d.c.aid == Article.id)
                .where(*scope))

    rows = db.session.execute(joined(sa.select(
        Article.id, Article.slug, Article.title, Article.status, Article.audience, Article.language,
        Article.review_due_at, n_views.label("views"), n_yes.label("helpful"), n_feedback.label("feedback"),
        n_links.label("resolved"), n_deflections.label("deflections"),
    )).order_by(n_views.desc(), n_links.desc(), Article.id).limit(max(1, min(limit, 1000)))).all()
    overdue_flag = sa.case((sa.and_(Article.status == ArticleStatus.PUBLISHED, Article.review_due_at <= now), 1),
                           else_=0)
    totals = db.session.execute(joined(sa.select(
        sa.func.count(Article.id), sa.func.coalesce(sa.func.sum(n_views), 0), sa.func.coalesce(sa.func.sum(n_yes), 0),
        sa.func.coalesce(sa.func.sum(n_feedback), 0), sa.func.coalesce(sa.func.sum(n_links), 0),
        sa.func.coalesce(sa.func.sum(n_deflections), 0), sa.func.coalesce(sa.func.sum(overdue_flag), 0),
    ))).one()
    due = db.session.execute(
        sa.select(Article.id, Article.slug, Article.title, Article.review_due_at)
        .where(*scope, Article.status == ArticleStatus.PUBLISHED, Article.review_due_at <= now)
        .order_by(Article.review_due_at, Article.id).limit(100)
    ).all()

    def pct(yes: int, n: int) -> float | None:
        return round(100.0 * yes / n, 1) if n else None

    return {
        "since": since.isoformat() if since else None,
        "queues": sorted(queue_slugs) if queue_slugs else None,
        "generated_at": now.isoformat(),
        "totals": {
            "articles": int(totals[0]), "views": int(totals[1]), "helpful": int(totals[2]),
            "not_helpful": int(totals[3]) - int(totals[2]), "helpful_pct": pct(int(totals[2]), int(totals[3])),
            "resolved_tickets": int(totals[4]), "deflections": int(totals[5]), "due_for_review": int(totals[6]),
        },
        "articles": [
            {
                "id": r.id, "slug": r.slug, "title": r.title, "status": ArticleStatus(r.status).value,
                "audience": Audience(r.audience).value, "language": Language(r.language).value,
                "views": int(r.views), "helpful": int(r.helpful), "not_helpful": int(r.feedback) - int(r.helpful),
                "helpful_pct": pct(int(r.helpful), int(r.feedback)), "resolved_tickets": int(r.resolved),
                "deflections": int(r.deflections),
                "review_due_at": r.review_due_at.isoformat() if r.review_due_at else None,
                "review_overdue": bool(r.review_due_at and r.review_due_at <= now
                                       and ArticleStatus(r.status) == ArticleStatus.PUBLISHED),
            }
            for r in rows
        ],
        "due_for_review": [
            {"id": r.id, "slug": r.slug, "title": r.title, "review_due_at": r.review_due_at.isoformat(),
             "days_overdue": max(0, (now - r.review_due_at).days)}
            for r in due
        ],
    }


# ---------------------------------------------------------------- translations


def set_translation_of(article: Article, original: Article | None, *, actor: User | None) -> None:
    """Record that ``article`` translates ``original`` (None: it is an original). Editors,
    or the seed loader (actor None)."""
    with _unit_of_work():
        if actor is not None and not is_kb_editor(actor):
            raise Forbidden("Only knowledge-base editors can change translations.")
        if original is not None and (original.id == article.id or original.language == article.language):
            raise ValidationFailed("A translation names an article in another language.")
        before = article.translation_of_id
        article.translation_of_id = original.id if original is not None else None
        audit.record("kb.translation_set", "kb_article", article.id, actor_id=actor.id if actor else None,
                     changes={"translation_of_id": {"before": before, "after": article.translation_of_id}})


def in_language(article: Article, language: str | None) -> Article:
    """The published public version of ``article`` in ``language`` — the article itself, its
    original or another translation of the same original — else ``article`` unchanged."""
    if not language or article.language.value == language:
        return article
    root_id = article.translation_of_id or article.id
    found = db.session.scalar(
        sa.select(Article).where(
            sa.or_(Article.id == root_id, Article.translation_of_id == root_id),
            Article.language == language, public_article_clause(),
        ).order_by(Article.id).limit(1)
    )
    return found or article
