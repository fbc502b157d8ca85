"""Knowledge-base pages.

* The **help centre** (``/help-centre``) is open to everyone — signed-out visitors too,
  since "I can't sign in" is the commonest question — and shows only published public
  articles: anything else is "not found".
* **Get help** suggestions (``POST /help/suggest``, JSON) and "This answered my
  question" (``POST /help/deflect``) are for signed-in patients. The patient's text
  travels in the request body, never in a URL.
* **Staff pages** (``/kb/…``): every staff member reads every article and proposes
  drafts; editors (helpdesk.permissions.is_kb_editor) write, review, publish, restore
  and see the numbers; admins grant the editor permission.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from helpdesk import policy
from helpdesk.audit import record_export
from helpdesk.auth.models import Role, User
from helpdesk.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db, limiter
from helpdesk.formutil import choices
from helpdesk.i18n import current_language, translate
from helpdesk.i18n.names import topic_name
from helpdesk.kb import index, services
from helpdesk.kb.forms import (
    ActionForm,
    ArticleForm,
    DeflectForm,
    FeedbackForm,
    FromTicketForm,
    LinkForm,
    SearchForm,
    VersionForm,
)
from helpdesk.kb.markdown import render, sanitise
from helpdesk.kb.models import (
    ARTICLE_TRANSITIONS,
    Article,
    ArticleFeedback,
    ArticleStatus,
    ArticleVersion,
    ArticleViewDay,
    Audience,
    Deflection,
    Language,
)
from helpdesk.kb.patient import emergency_message, suggestions_for
from helpdesk.kb.pii import find_in_fields, segments
from helpdesk.kb.text import slugify
from helpdesk.permissions import (
    STAFF,
    can_edit_article,
    can_manage_kb_editors,
    can_work_ticket,
    get_public_article,
    get_visible_article,
    get_visible_ticket,
    is_kb_editor,
    public_article_clause,
    require_kb_editor,
    role_required,
)
from helpdesk.tickets.models import Queue, Status
from helpdesk.tickets.services import record_staff_view
from helpdesk.timeutil import utcnow

bp = Blueprint("kb", __name__)

MAX_SUGGEST_CHARS = 40_000
LIST_PAGE_SIZE = 30


def _me() -> User | None:
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()  # type: ignore[attr-defined]
    return None


ALL_LANGUAGES = "all"


def _language_arg() -> str | None:
    """The articles' language on the help centre's pages: ``?lang=en|es``, ``?lang=all``
    for every language (None), and without it the page's own language."""
    value = request.args.get("lang")
    if value == ALL_LANGUAGES:
        return None
    return value if value in {lang.value for lang in Language} else current_language()


def _search_language() -> str | None:
    """The language picked in the search form (none: every language, so that "reset my
    password" finds an article on a Spanish page too)."""
    value = request.form.get("language")
    return value if value in {lang.value for lang in Language} else None


def _search_form() -> SearchForm:
    chosen = request.args.get("lang")  # the search starts in a language the visitor picked, else in every one
    return SearchForm(language=chosen if chosen in {lang.value for lang in Language} else "")


@bp.app_template_filter("kb_html")
def kb_html(value: str) -> str:
    """Article HTML was sanitised at save; sanitise again on the way out (cheap, and
    safe against an allow-list that changed since), then put in the current values of
    the ``{{ policy.… }}`` placeholders (escaped; helpdesk.policy)."""
    return policy.resolve_html(sanitise(value or ""))


@bp.app_template_filter("policy_text")
def policy_text(value: str) -> str:
    """A summary with its ``{{ policy.… }}`` placeholders resolved (autoescaped by Jinja)."""
    return policy.resolve_text(value or "")


@bp.app_template_filter("kb_slug")
def kb_slug(value: str) -> str:
    return slugify(value or "")


@bp.app_context_processor
def _kb_globals():
    # policy_table: called only by the editor pages that list the placeholders
    return {"is_kb_editor": is_kb_editor(_me()), "policy_table": policy.table}


# ================================================================ help centre (public)


def _public_scope():
    return public_article_clause()


def _categories(language: str | None) -> list[dict]:
    """The topics (in the page's language, helpdesk.i18n.names) with their number of
    public articles in ``language`` (None: every language)."""
    stmt = (sa.select(Article.category, sa.func.count(Article.id)).where(_public_scope())
            .group_by(Article.category))
    if language:
        stmt = stmt.where(Article.language == language)
    found = [{"key": key, "name": topic_name(key), "slug": slugify(key), "count": n}
             for key, n in db.session.execute(stmt)]
    return sorted(found, key=lambda c: c["name"].casefold())


def _popular(language: str | None, limit: int = 5) -> list[Article]:
    since = (utcnow() - timedelta(days=30)).date()
    views = (sa.select(ArticleViewDay.article_id, sa.func.sum(ArticleViewDay.views).label("n"))
             .where(ArticleViewDay.day >= since).group_by(ArticleViewDay.article_id).subquery())
    stmt = (sa.select(Article).join(views, views.c.article_id == Article.id).where(_public_scope())
            .order_by(views.c.n.desc(), Article.id).limit(limit))
    if language:
        stmt = stmt.where(Article.language == language)
    return list(db.session.scalars(stmt))


@bp.get("/help-centre")
def help_centre():
    language = _language_arg()
    form = _search_form()
    return render_template("kb/help_centre.html", form=form, categories=_categories(language),
                           popular=_popular(language), language=language, results=None, category=None)


@bp.post("/help-centre/search")
@limiter.limit("60 per minute")
def help_centre_search():
    """Search by POST: what a patient types stays out of URLs and access logs."""
    form = SearchForm()
    language = _search_language()
    if not form.validate_on_submit():
        abort(400)
    query = (form.q.data or "").strip()
    if not query:
        form.q.errors = [_("Type a few words about your question.")]
        return render_template("kb/help_centre.html", form=form, categories=_categories(language),
                               popular=_popular(language), language=language, results=None, category=None), 422
    results = index.search_articles(query[:2_000], include_internal=False, language=language, limit=20)
    return render_template("kb/help_centre.html", form=form, categories=[], popular=[], language=language,
                           results=results, category=None)


@bp.get("/help-centre/categories/<slug>")
def help_centre_category(slug: str):
    language = _language_arg()
    names = {c["slug"]: c["key"] for c in _categories(None)}
    key = names.get(slug[:100])
    if key is None:
        raise NotFound("No such category.")
    stmt = sa.select(Article).where(_public_scope(), Article.category == key).order_by(Article.title)
    if language:
        stmt = stmt.where(Article.language == language)
    return render_template("kb/help_centre.html", form=_search_form(), categories=[],
                           popular=[], language=language, results=None,
                           category={"name": topic_name(key), "slug": slug, "articles": list(db.session.scalars(stmt))})


def _public_article_page(article: Article, feedback_form: FeedbackForm | None = None, status: int = 200):
    related = list(db.session.scalars(
        sa.select(Article).where(_public_scope(), Article.category == article.category, Article.id != article.id,
                                 Article.language == article.language).order_by(Article.title).limit(5)))
    return render_template("kb/article_public.html", article=article, related=related,
                           feedback_form=feedback_form or FeedbackForm()), status


@bp.get("/help-centre/articles/<slug>")
def article(slug: str):
    item = get_public_article(slug)
    services.record_view(item)
    return _public_article_page(item)


@bp.post("/help-centre/articles/<slug>/feedback")
@limiter.limit("20 per minute")
def feedback(slug: str):
    item = get_public_article(slug)
    form = FeedbackForm()
    if not form.validate_on_submit():
        abort(400)
    helpful = request.form.get("helpful")
    try:
        services.record_feedback(item, user=_me(), helpful=helpful, reason=form.reason.data)
    except ValidationFailed as err:
        for name, messages in (err.fields or {}).items():
            if name in form:
                form[name].errors = [translate(m) for m in messages]
        return _public_article_page(item, form, 422)
    flash(_("Thank you for your feedback.") if helpful == "yes" else
          _("Thank you. We'll use your feedback to improve this article."), "success")
    return redirect(url_for("kb.article", slug=item.slug) + "#feedback")


# ================================================================ Get help: suggestions and deflection


def _article_json(item: Article) -> dict:
    return {"id": item.id, "title": item.title, "summary": policy.resolve_text(item.summary),
            "language": item.language.value, "url": url_for("kb.article", slug=item.slug)}


@bp.post("/help/suggest")
@limiter.limit("60 per minute")
@role_required(Role.PATIENT)
def suggest():
    """Up to three public articles for what the patient has typed so far (JSON)."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": {"code": "bad_request", "message": _("Send a JSON object.")}}), 400
    subject, body = payload.get("subject", ""), payload.get("body", "")
    if not isinstance(subject, str) or not isinstance(body, str):
        return jsonify({"error": {"code": "bad_request", "message": _("Subject and body must be text.")}}), 400
    text = f"{subject}\n{body}".strip()[:MAX_SUGGEST_CHARS]
    emergency = emergency_message(text)
    found = [] if emergency else suggestions_for(text)
    return jsonify({"articles": [_article_json(r.article) for r in found], "query_length": len(text),
                    "emergency": translate(emergency) if emergency else None})


@bp.post("/help/deflect")
@role_required(Role.PATIENT)
def deflect():
    """"This answered my question": no request is sent; the deflection is counted."""
    form = DeflectForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        article_id = int(form.article_id.data or "")
    except ValueError:
        raise NotFound("No article here.") from None
    item = db.session.get(Article, article_id)
    if item is None:
        raise NotFound("No article here.")
    services.record_deflection(item, user=_me(), query_length=form.query_length.data, source=form.source.data)
    flash(_("We're glad that answered your question. No request was sent — you can always ask us from Get help."),
          "success")
    return redirect(url_for("kb.article", slug=item.slug))


# ================================================================ staff: list, read


def _encode_cursor(item: Article) -> str:
    raw = f"{item.updated_at.isoformat()}|{item.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str | None) -> tuple[datetime, int] | None:
    if not value or len(value) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            return None
        return when, int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


@bp.get("/kb/")
@role_required(*STAFF)
def staff_list():
    args = request.args
    status = args.get("status") if args.get("status") in {s.value for s in ArticleStatus} else None
    audience = args.get("audience") if args.get("audience") in {a.value for a in Audience} else None
    language = args.get("lang") if args.get("lang") in {lang.value for lang in Language} else None
    category = (args.get("category") or "")[:80] or None
    query = (args.get("q") or "").strip()[:500]
    results = None
    items: list[Article] = []
    next_cursor = None
    if query:
        results = index.search_articles(query, include_internal=True, language=language, limit=30)
        if audience:
            results = [r for r in results if r.article.audience.value == audience]
    else:
        stmt = sa.select(Article)
        if status:
            stmt = stmt.where(Article.status == status)
        if audience:
            stmt = stmt.where(Article.audience == audience)
        if language:
            stmt = stmt.where(Article.language == language)
        if category:
            stmt = stmt.where(Article.category == category)
        cursor = _decode_cursor(args.get("cursor"))
        if cursor:
            stamp, ident = cursor
            stmt = stmt.where(sa.or_(Article.updated_at < stamp,
                                     sa.and_(Article.updated_at == stamp, Article.id < ident)))
        items = list(db.session.scalars(stmt.order_by(Article.updated_at.desc(), Article.id.desc())
                                        .limit(LIST_PAGE_SIZE + 1)))
        if len(items) > LIST_PAGE_SIZE:
            items = items[:LIST_PAGE_SIZE]
            next_cursor = _encode_cursor(items[-1])
    categories = list(db.session.scalars(sa.select(Article.category).distinct().order_by(Article.category)))
    counts = dict(db.session.execute(sa.select(Article.status, sa.func.count()).group_by(Article.status)).all())
    return render_template(
        "kb/list.html", items=items, results=results, next_cursor=next_cursor, categories=categories,
        filters={"status": status, "audience": audience, "lang": language, "category": category, "q": query},
        counts={ArticleStatus(k).value: v for k, v in counts.items()}, ArticleStatus=ArticleStatus,
        Audience=Audience, Language=Language, overdue=len(services.overdue_articles(limit=1000)),
    )


def _staff_article(article_id: int) -> Article:
    return get_visible_article(_me(), article_id)


@bp.get("/kb/articles/<int:article_id>")
@role_required(*STAFF)
def staff_article(article_id: int):
    item = _staff_article(article_id)
    if item.status == ArticleStatus.PUBLISHED:
        services.record_view(item)
    me = _me()
    actions = []
    for target in sorted(ARTICLE_TRANSITIONS[item.status], key=lambda s: list(ArticleStatus).index(s)):
        allowed = is_kb_editor(me) or (target == ArticleStatus.IN_REVIEW and item.author_id == me.id)
        if allowed:
            actions.append(target)
    return render_template(
        "kb/article.html", article=item, actions=actions, action_form=VersionForm(version=item.version),
        can_edit=can_edit_article(me, item), editor=is_kb_editor(me), resolved=services.resolved_count(item.id),
        versions=item.versions[:50], stats=_article_numbers(item), now=utcnow(),
    )


def _article_numbers(item: Article) -> dict:
    views = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(ArticleViewDay.views), 0))
                              .where(ArticleViewDay.article_id == item.id)) or 0
    yes, total = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(sa.case((ArticleFeedback.helpful.is_(True), 1), else_=0)), 0),
                  sa.func.count(ArticleFeedback.id)).where(ArticleFeedback.article_id == item.id)).one()
    deflections = db.session.scalar(sa.select(sa.func.count(Deflection.id)).where(Deflection.article_id == item.id))
    reasons = list(db.session.scalars(
        sa.select(ArticleFeedback).where(ArticleFeedback.article_id == item.id, ArticleFeedback.reason.is_not(None))
        .order_by(ArticleFeedback.created_at.desc()).limit(10)))
    return {"views": int(views), "helpful": int(yes), "feedback": int(total), "deflections": int(deflections or 0),
            "helpful_pct": round(100 * yes / total) if total else None, "reasons": reasons}


# ================================================================ staff: write


def _queue_choices() -> list:
    return choices((q.slug, q.name) for q in db.session.scalars(
        sa.select(Queue).where(Queue.active.is_(True)).order_by(Queue.name)))


def _category_choices() -> list[str]:
    return list(db.session.scalars(sa.select(Article.category).distinct().order_by(Article.category)))


def _apply_field_errors(form, err: DomainError) -> bool:
    applied = False
    for name, messages in (err.fields or {}).items():
        if name in form:
            form[name].errors = list(messages)
            applied = True
    return applied


def _edit_page(form: ArticleForm, article: Article | None, status: int = 200, conflict=None):
    return render_template("kb/edit.html", form=form, article=article, categories=_category_choices(),
                           conflict=conflict, preview=None), status


@bp.route("/kb/articles/new", methods=["GET", "POST"])
@role_required(*STAFF)
def new_article():
    form = ArticleForm()
    form.queues.choices = _queue_choices()
    if form.validate_on_submit():
        try:
            item = services.create_article(actor=_me(), data=form.data_for_service(), note=form.note.data or "")
        except ValidationFailed as err:
            if not _apply_field_errors(form, err):
                flash(err.message, "error")
            return _edit_page(form, None, 422)
        flash("Draft saved." + ("" if is_kb_editor(_me()) else " Submit it for review when it is ready."), "success")
        return redirect(url_for("kb.staff_article", article_id=item.id))
    if request.method == "POST":
        abort(400)
    return _edit_page(form, None)


@bp.route("/kb/articles/<int:article_id>/edit", methods=["GET", "POST"])
@role_required(*STAFF)
def edit_article(article_id: int):
    item = _staff_article(article_id)
    me = _me()
    if not can_edit_article(me, item):
        raise Forbidden("Only knowledge-base editors can change this article." if item.status != ArticleStatus.DRAFT
                        or item.author_id == me.id else "Only the author or an editor can change this draft.")
    if request.method == "GET":
        form = ArticleForm(data={
            "title": item.title, "summary": item.summary, "body_md": item.body_md, "category": item.category,
            "queues": item.queue_slugs, "audience": item.audience.value, "language": item.language.value,
            "review_interval_days": str(item.review_interval_days), "version": str(item.version),
        })
        form.queues.choices = _queue_choices()
        return _edit_page(form, item)
    form = ArticleForm()
    form.queues.choices = _queue_choices()
    if not form.validate_on_submit():
        abort(400)
    submitted = form.data_for_service()
    try:
        services.save_article(item, actor=me, data=submitted, expected_version=form.version.data,
                              note=form.note.data or "")
    except Conflict as err:
        current = db.session.get(Article, article_id)
        if current is None:
            raise NotFound("No article here.") from None
        # Nothing is lost: the form keeps the editor's text, shows what the other save
        # changed, and now carries the current version so that saving again is deliberate.
        form.version.data = str(current.version)
        diff = services.diff_texts(services.article_snapshot(current), {**submitted, "queues": sorted(submitted["queues"])})
        flash(err.message, "error")
        return _edit_page(form, current, 409, conflict={"diff": diff, "by": current.updated_by,
                                                        "at": current.updated_at})
    except ValidationFailed as err:
        if not _apply_field_errors(form, err):
            flash(err.message, "error")
        return _edit_page(form, db.session.get(Article, article_id), 422)
    flash(f"Saved as revision {item.revision}.", "success")
    return redirect(url_for("kb.staff_article", article_id=item.id))


@bp.post("/kb/articles/<int:article_id>/status")
@role_required(*STAFF)
def set_status(article_id: int):
    item = _staff_article(article_id)
    form = VersionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.change_status(item, actor=_me(), status=form.status.data, expected_version=form.version.data)
    except (Conflict, ValidationFailed) as err:
        flash(err.message, "error")
        return redirect(url_for("kb.staff_article", article_id=article_id)), 303
    messages = {
        ArticleStatus.IN_REVIEW: "Submitted for review.", ArticleStatus.PUBLISHED: "Published.",
        ArticleStatus.ARCHIVED: "Archived: patients and agents no longer see it.",
        ArticleStatus.DRAFT: "Back to draft.",
    }
    flash(messages[item.status], "success")
    return redirect(url_for("kb.staff_article", article_id=item.id))


@bp.post("/kb/articles/<int:article_id>/reviewed")
@role_required(*STAFF)
def reviewed(article_id: int):
    item = _staff_article(article_id)
    require_kb_editor(_me())
    form = VersionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.mark_reviewed(item, actor=_me(), expected_version=form.version.data)
    except (Conflict, ValidationFailed) as err:
        flash(err.message, "error")
        return redirect(url_for("kb.staff_article", article_id=article_id)), 303
    flash(f"Marked as reviewed. Next review due {item.review_due_at:%b %d, %Y}.", "success")
    return redirect(url_for("kb.staff_article", article_id=item.id))


@bp.get("/kb/articles/<int:article_id>/versions/<int:number>")
@role_required(*STAFF)
def version(article_id: int, number: int):
    item = _staff_article(article_id)
    shown = services.get_version(item, number)
    against_arg = request.args.get("against")
    against: ArticleVersion | None = None
    if against_arg:
        against = services.get_version(item, against_arg)
    elif shown.number > 1:
        against = db.session.scalar(sa.select(ArticleVersion).where(
            ArticleVersion.article_id == item.id, ArticleVersion.number < shown.number)
            .order_by(ArticleVersion.number.desc()).limit(1))
    diff = services.diff_texts(services.version_snapshot(against), services.version_snapshot(shown)) if against else None
    return render_template("kb/version.html", article=item, shown=shown, against=against, diff=diff,
                           html=render(shown.body_md), editor=is_kb_editor(_me()),
                           action_form=VersionForm(version=item.version))


@bp.post("/kb/articles/<int:article_id>/versions/<int:number>/restore")
@role_required(*STAFF)
def restore(article_id: int, number: int):
    item = _staff_article(article_id)
    require_kb_editor(_me())
    form = VersionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.restore_version(item, actor=_me(), number=number, expected_version=form.version.data)
    except (Conflict, ValidationFailed) as err:
        flash(err.message, "error")
        return redirect(url_for("kb.version", article_id=article_id, number=number)), 303
    flash(f"Revision {number} restored as revision {item.revision}.", "success")
    return redirect(url_for("kb.staff_article", article_id=item.id))


# ================================================================ editors: review queue, numbers, permissions


@bp.get("/kb/review")
@role_required(*STAFF)
def review():
    require_kb_editor(_me())
    return render_template("kb/review.html", in_review=services.articles_in_review(),
                           overdue=services.overdue_articles(), now=utcnow())


def _stats_args() -> tuple[list[str] | None, datetime | None, int | None]:
    known = {q.slug for q in db.session.scalars(sa.select(Queue))}
    queues = [q for q in request.args.getlist("queue") if q in known] or None
    days = request.args.get("days", "")
    n = int(days) if days.isdigit() and 1 <= int(days) <= 3650 else None
    return queues, (utcnow() - timedelta(days=n) if n else None), n


@bp.get("/kb/stats")
@role_required(*STAFF)
def stats():
    require_kb_editor(_me())
    queues, since, days = _stats_args()
    return render_template("kb/stats.html", data=services.kb_stats(queues, since),
                           queues=list(db.session.scalars(sa.select(Queue).order_by(Queue.name))),
                           selected=set(queues or []), days=days)


@bp.get("/kb/stats.json")
@role_required(*STAFF)
def stats_json():
    require_kb_editor(_me())
    queues, since, _ = _stats_args()
    data = services.kb_stats(queues, since)
    record_export("kb_stats_json", actor_id=_me().id, filters={"queues": sorted(queues or []), "since": str(since)})
    return jsonify(data)


@bp.get("/kb/editors")
@role_required(*STAFF)
def editors():
    if not can_manage_kb_editors(_me()):
        raise Forbidden("Only admins can grant the editor permission.")
    people = list(db.session.scalars(
        sa.select(User).where(User.role.in_([Role.AGENT, Role.SUPERVISOR, Role.ADMIN]), User.active.is_(True))
        .order_by(User.role, User.display_name)))
    return render_template("kb/editors.html", people=people, form=ActionForm(), Role=Role)


@bp.post("/kb/editors/<int:user_id>/<int:value>")
@role_required(*STAFF)
def set_editor(user_id: int, value: int):
    me = _me()
    if not can_manage_kb_editors(me):
        raise Forbidden("Only admins can grant the editor permission.")
    if not ActionForm().validate_on_submit():
        abort(400)
    user = db.session.get(User, user_id)
    if user is None or value not in (0, 1):
        raise NotFound("No such account.")
    try:
        services.set_kb_editor(actor=me, user=user, value=bool(value))
    except ValidationFailed as err:
        flash(err.message, "error")
    else:
        flash(f"{user.display_name} {'can now' if value else 'can no longer'} write, review and publish articles.",
              "success")
    return redirect(url_for("kb.editors"))


# ================================================================ tickets: article from ticket, links


CATEGORY_FOR_QUEUE = {
    "account-access": "Signing in", "scheduling": "Appointments", "billing": "Bills and payments",
    "records": "Medical records", "prescriptions": "Prescriptions", "technical": "Technical help",
    "general": "General",
}


def _lead_sentences(text: str, limit: int = 300) -> str:
    """The first sentences of ``text`` that fit in ``limit`` characters (a summary draft)."""
    first = " ".join(text.split("\n\n", 1)[0].split())
    out = ""
    for sentence in re.split(r"(?<=[.!?])\s+", first):
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return out or first[:limit].rsplit(" ", 1)[0]


def _workable_ticket(reference: str):
    me = _me()
    ticket = get_visible_ticket(me, reference[:32])
    if not can_work_ticket(me, ticket):
        raise NotFound("No request with that reference.")
    return ticket


def _pii_view(form: FromTicketForm, names: list[str]) -> dict:
    fields = {"title": form.title.data or "", "summary": form.summary.data or "", "body_md": form.body_md.data or ""}
    hits = find_in_fields(fields, names=names)
    labels = {"title": "Title", "summary": "Summary", "body_md": "Article"}
    return {
        "count": len(hits),
        "fields": [
            {"name": name, "label": labels[name], "segments": segments(text, [h for h in hits if h.field == name]),
             "count": sum(1 for h in hits if h.field == name)}
            for name, text in fields.items() if any(h.field == name for h in hits)
        ],
    }


@bp.route("/kb/from-ticket/<reference>", methods=["GET", "POST"])
@role_required(*STAFF)
def from_ticket(reference: str):
    ticket = _workable_ticket(reference)
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        raise InvalidTransition("Only a resolved request can become an article.")
    names = services.requester_identifiers(ticket)
    if request.method == "GET":
        record_staff_view(_me(), ticket)  # the page shows the ticket's thread: a staff view
        answer = services.ticket_answer(ticket)
        form = FromTicketForm(data={
            "title": ticket.subject, "summary": _lead_sentences(answer), "body_md": answer,
            "category": CATEGORY_FOR_QUEUE.get(ticket.queue.slug, "General"), "queues": [ticket.queue.slug],
            "audience": Audience.PUBLIC.value, "language": ticket.requester.language
            if ticket.requester.language in {lang.value for lang in Language} else Language.EN.value,
        })
        form.queues.choices = _queue_choices()
        return render_template("kb/from_ticket.html", form=form, ticket=ticket, pii=_pii_view(form, names),
                               categories=_category_choices())
    form = FromTicketForm()
    form.queues.choices = _queue_choices()
    if not form.validate_on_submit():
        abort(400)
    try:
        item = services.draft_from_ticket(ticket, actor=_me(), data=form.data_for_service(),
                                          confirmed_no_personal_data=bool(form.confirm.data))
    except ValidationFailed as err:
        if not _apply_field_errors(form, err) or "confirm" in (err.fields or {}):
            flash(err.message, "error")
        return render_template("kb/from_ticket.html", form=form, ticket=ticket, pii=_pii_view(form, names),
                               categories=_category_choices()), 422
    flash("Draft saved from the request. Submit it for review when it is ready.", "success")
    return redirect(url_for("kb.staff_article", article_id=item.id))


@bp.post("/kb/tickets/<reference>/links")
@role_required(*STAFF)
def link(reference: str):
    ticket = _workable_ticket(reference)
    form = LinkForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        item = get_visible_article(_me(), int(form.article_id.data or ""))
    except ValueError:
        raise NotFound("No article here.") from None
    try:
        created = services.link_ticket(ticket, item, actor=_me())
    except DomainError as err:
        if err.status == 404:
            raise
        flash(err.message, "error")
        return redirect(url_for("agent.ticket_page", reference=ticket.reference)), 303
    flash(f"Linked “{item.title}” as resolved with." if created else "That article is already linked.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.post("/kb/tickets/<reference>/links/<int:article_id>/delete")
@role_required(*STAFF)
def unlink(reference: str, article_id: int):
    ticket = _workable_ticket(reference)
    if not LinkForm().validate_on_submit():
        abort(400)
    services.unlink_ticket(ticket, article_id, actor=_me())
    flash("Link removed.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.app_template_global("kb_public_url")
def kb_public_url(item: Article) -> str:
    return current_app.config["HELPDESK"].external_url + url_for("kb.article", slug=item.slug)


_MD_LINK = re.compile(r"\[([^\[\]\n]{1,200})\]\((https?://[^\s()<>]{1,400})\)")


@bp.app_template_filter("message_body")
def message_body(text: str | None) -> Markup:
    """A message's text for a page: escaped, with one exception — a Markdown link to one of
    our own help-centre articles (what "Insert" puts in a reply: ``[title](url)``) is shown
    as a link with the title as its text. Any other link stays plain text."""
    prefix = current_app.config["HELPDESK"].external_url + url_for("kb.article", slug="x")[:-1]
    out, last = [], 0
    source = text or ""
    for match in _MD_LINK.finditer(source):
        title, url = match.group(1), match.group(2)
        slug = url[len(prefix):] if url.startswith(prefix) else ""
        if not slug or not re.fullmatch(r"[a-z0-9-]{1,120}", slug):
            continue
        out.append(escape(source[last:match.start()]))
        out.append(Markup('<a href="{}">{}</a>').format(url, title))
        last = match.end()
    out.append(escape(source[last:]))
    return Markup("").join(out)
