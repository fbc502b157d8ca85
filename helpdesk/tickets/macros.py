"""Macros (canned responses): personal or shared with a queue.

A macro's text may hold two placeholders about the ticket, ``{{patient_first_name}}`` and
``{{agent_name}}``, and the product's policy values (``{{ policy.reset_link_minutes }}``,
see ``helpdesk.policy``: public rules, read where the product enforces them). They are
replaced by a plain, single-pass substitution — never by a template engine — so
anything else in the text (braces, ``{% ... %}``, other field names) comes out
literally and no other field of the ticket or user can be reached.

A macro has a language (``en``, ``es``, or none for "any"); the ticket page offers the
macros in the patient's language first. The day-one shared macros are in
``helpdesk.tickets.macro_seed``.

Who may do what (see ``helpdesk.permissions``): every staff member keeps personal
macros; shared macros of a queue are created, edited and deleted by supervisors and
admins who are members of that queue, and used by every member of it.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import current_app

from helpdesk import audit, policy
from helpdesk.auth.models import User
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_macro, can_manage_shared_items, can_use_macro, member_queue_ids
from helpdesk.tickets import services
from helpdesk.tickets.models import Priority, Queue, Status, Ticket
from helpdesk.tickets.workspace_models import Macro
from helpdesk.timeutil import utcnow

PLACEHOLDERS = ("patient_first_name", "agent_name")
_PLACEHOLDER = re.compile(r"\{\{\s*(patient_first_name|agent_name|policy\.[A-Za-z0-9_]+)\s*\}\}")
TITLE_MAX = 120
LANGUAGES = {"en": "English", "es": "Español"}


def render(body: str, *, ticket: Ticket, agent: User) -> str:
    """The macro text for this ticket: the two placeholders and the policy values are
    replaced, once (an unknown policy name stays as written)."""
    values = {"patient_first_name": ticket.requester.first_name, "agent_name": agent.display_name}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("policy."):
            key = name.removeprefix("policy.")
            return policy.value(key) if key in policy.BY_NAME else match.group(0)
        return values[name]

    return _PLACEHOLDER.sub(one, body)


# ---------------------------------------------------------------- reads


def visible_macros(user: User, *, search: str | None = None) -> list[Macro]:
    """The user's personal macros and the shared macros of the queues they work in."""
    queue_ids = member_queue_ids(user)
    clause = Macro.owner_id == user.id
    if queue_ids:
        clause = sa.or_(clause, Macro.queue_id.in_(queue_ids))
    stmt = sa.select(Macro).where(clause)
    if search:
        stmt = stmt.where(Macro.title.ilike(f"%{_escape_like(search[:120])}%", escape="\\"))
    return list(db.session.scalars(stmt.order_by(Macro.title, Macro.id)))


def for_ticket(user: User, ticket: Ticket) -> list[Macro]:
    """Macros offered on a ticket page: those in the patient's language (or any language)
    first; within that, personal ones and those shared with the ticket's queue, then the
    other queues'. A shared macro of another queue with the same title and language as
    one already offered is left out (the day-one macros are shared with every queue)."""
    language = ticket.requester.language or "en"
    ordered = sorted(visible_macros(user), key=lambda m: (
        m.language not in (None, language), m.queue_id not in (None, ticket.queue_id), m.title.lower(), m.id))
    seen: set[tuple[str, str | None]] = set()
    offered = []
    for m in ordered:
        key = (m.title.lower(), m.language)
        if m.queue_id not in (None, ticket.queue_id) and key in seen:
            continue
        seen.add(key)
        offered.append(m)
    return offered


def get_usable_macro(user: User, macro_id: Any) -> Macro:
    macro = db.session.get(Macro, _int_id(macro_id))
    if macro is None or not can_use_macro(user, macro):
        raise NotFound("No macro here.")
    return macro


def get_manageable_macro(user: User, macro_id: Any) -> Macro:
    """A macro the user may edit; NotFound when it is not theirs to see at all."""
    macro = get_usable_macro(user, macro_id)
    if not can_manage_macro(user, macro):
        raise Forbidden("Only supervisors of this queue can change its shared macros.")
    return macro


def _int_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("No macro here.") from None


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- writes


def _clean(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    try:
        out["title"] = services.clean_text(data.get("title"), "title", max_len=TITLE_MAX, multiline=False)
    except ValidationFailed as err:
        errors.update(err.fields or {})
    body = data.get("body") or ""
    if not isinstance(body, str):
        body = ""
    body = body.replace("\r\n", "\n").strip()
    max_body = current_app.config["HELPDESK"].max_body_chars
    if len(body) > max_body:
        errors["body"] = [f"Must be at most {max_body:,} characters."]
    out["body"] = body
    unknown = policy.unknown_names(body)
    if unknown:
        errors["body"] = [f"Unknown placeholder: {', '.join(unknown)[:200]}. Policy values are written "
                          "{{ policy.name }} with a name from the list on this page."]
    language = data.get("language") or None
    if language is not None and language not in LANGUAGES:
        errors["language"] = ["Choose English, Español or any language."]
    out["language"] = language if language in LANGUAGES else None
    out["set_status"] = _choice(Status, data.get("set_status"), "set_status", errors, exclude={Status.NEW})
    out["set_priority"] = _choice(Priority, data.get("set_priority"), "set_priority", errors)
    queue_raw = data.get("set_queue_id")
    out["set_queue_id"] = None
    if queue_raw not in (None, ""):
        queue = db.session.get(Queue, int(queue_raw)) if str(queue_raw).isdigit() else None
        if queue is None or not queue.active:
            errors["set_queue_id"] = ["Choose an active queue."]
        else:
            out["set_queue_id"] = queue.id
    if not errors and not out["body"] and not (out["set_status"] or out["set_priority"] or out["set_queue_id"]):
        errors["body"] = ["Write a text or choose something the macro changes."]
    scope = data.get("scope") or "personal"
    out["owner_id"], out["queue_id"] = actor.id, None
    if scope != "personal":
        queue = db.session.scalar(sa.select(Queue).where(Queue.slug == str(scope)[:40]))
        if queue is None:
            errors["scope"] = ["Choose personal or one of your queues."]
        elif not can_manage_shared_items(actor, queue.id):
            errors["scope"] = ["Only supervisors of that queue can share macros with it."]
        else:
            out["owner_id"], out["queue_id"] = None, queue.id
    if errors:
        raise ValidationFailed("Some fields of the macro are not valid.", fields=errors)
    return out


def _choice(enum_cls: Any, value: Any, field: str, errors: dict[str, list[str]], exclude: set = frozenset()) -> Any:
    if value in (None, ""):
        return None
    try:
        parsed = enum_cls(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed in exclude:
        errors[field] = ["Unknown value."]
        return None
    return parsed


def _state(m: Macro) -> dict[str, Any]:
    # no macro text in the audit log: its length only
    return {
        "title": m.title, "body_chars": len(m.body), "language": m.language,
        "scope": "shared" if m.queue_id else "personal",
        "queue_id": m.queue_id, "set_status": m.set_status.value if m.set_status else None,
        "set_priority": m.set_priority.value if m.set_priority else None, "set_queue_id": m.set_queue_id,
    }


def create_macro(*, actor: User, data: dict[str, Any]) -> Macro:
    with unit_of_work():
        values = _clean(actor, data)
        macro = Macro(**values, created_by_id=actor.id, created_at=utcnow(), updated_at=utcnow())
        db.session.add(macro)
        db.session.flush()
        audit.record("macro.created", "macro", macro.id, actor_id=actor.id, changes=audit.diff({}, _state(macro)))
    return macro


def update_macro(macro: Macro, *, actor: User, data: dict[str, Any]) -> Macro:
    with unit_of_work():
        before = _state(macro)
        values = _clean(actor, data)
        for key, value in values.items():
            setattr(macro, key, value)
        macro.updated_at = utcnow()
        db.session.flush()
        audit.record("macro.updated", "macro", macro.id, actor_id=actor.id, changes=audit.diff(before, _state(macro)))
    return macro


@transactional
def delete_macro(macro: Macro, *, actor: User) -> None:
    audit.record("macro.deleted", "macro", macro.id, actor_id=actor.id, changes={"title": {"before": macro.title}})
    db.session.delete(macro)


# ---------------------------------------------------------------- applying to a ticket


@transactional
def apply_macro(ticket: Ticket, macro: Macro, *, actor: User, public: bool = True) -> Ticket:
    """Reply with the macro's text and apply its status, priority and queue — one unit of
    work (``post_message`` and ``update_ticket`` join it): on any error nothing of it is kept."""
    if not can_use_macro(actor, macro):
        raise NotFound("No macro here.")
    if ticket.status == Status.CLOSED:
        raise InvalidTransition("This request is closed; a macro can't be applied.")
    text = render(macro.body, ticket=ticket, agent=actor)
    if text.strip():
        services.post_message(ticket, author=actor, body=text, public=public, channel=services.Channel.WEB)
    fields: dict[str, Any] = {}
    if macro.set_status is not None and macro.set_status != ticket.status:
        fields["status"] = macro.set_status
    fields.update(_priority_and_queue(macro, ticket))
    if fields:
        services.update_ticket(ticket, actor=actor, status=fields.get("status"), priority=fields.get("priority"),
                               queue_id=fields.get("queue_id"), reason=fields.get("reason"), source="macro")
    elif not text.strip():
        raise ValidationFailed("This macro changes nothing on this request.")
    audit.record("macro.applied", "ticket", ticket.reference, actor_id=actor.id, changes={"macro_id": macro.id})
    return ticket


def _priority_and_queue(macro: Macro, ticket: Ticket) -> dict[str, Any]:
    """The macro's priority and queue changes that would change something on ``ticket``."""
    fields: dict[str, Any] = {}
    if macro.set_priority is not None and macro.set_priority != ticket.priority:
        fields["priority"] = macro.set_priority
    if macro.set_queue_id is not None and macro.set_queue_id != ticket.queue_id:
        fields["queue_id"] = macro.set_queue_id
        fields["reason"] = f"Macro: {macro.title}"[:500]
    return fields


def usable_macro(user: User, macro_id: Any) -> Macro | None:
    try:
        return get_usable_macro(user, macro_id)
    except NotFound:
        return None


@transactional
def send_with_macro(ticket: Ticket, macro: Macro, *, actor: User, body: str, public: bool,
                    next_status: Status | str | None, attachments: list | None = None) -> Ticket:
    """The reply box after "Apply": the (edited) text is sent with the status the agent
    left in "Then set status", and the macro's priority and queue are applied — one unit
    of work (``post_message`` and ``update_ticket`` join it). An empty text sends nothing
    and only makes the changes."""
    if not can_use_macro(actor, macro):
        raise NotFound("No macro here.")
    if ticket.status == Status.CLOSED:
        raise InvalidTransition("This request is closed; a macro can't be applied.")
    text = (body or "").strip()
    if text:
        services.post_message(ticket, author=actor, body=body, public=public, next_status=next_status or None,
                              attachments=attachments)
    fields: dict[str, Any] = {}
    if not text and next_status and Status(next_status) != ticket.status:
        fields["status"] = Status(next_status)
    fields.update(_priority_and_queue(macro, ticket))
    if fields:
        services.update_ticket(ticket, actor=actor, status=fields.get("status"), priority=fields.get("priority"),
                               queue_id=fields.get("queue_id"), reason=fields.get("reason"), source="macro")
    elif not text:
        raise ValidationFailed("Write a message: this macro changes nothing else on this request.")
    edited = text != render(macro.body, ticket=ticket, agent=actor).strip()
    audit.record("macro.applied", "ticket", ticket.reference, actor_id=actor.id,
                 changes={"macro_id": macro.id, "edited": edited})
    return ticket


def insert_text(user: User, ticket: Ticket, macro_id: Any) -> str | None:
    """The rendered text of a usable macro for the reply box (``None`` if not usable)."""
    try:
        macro = get_usable_macro(user, macro_id)
    except NotFound:
        return None
    return render(macro.body, ticket=ticket, agent=user) or None
