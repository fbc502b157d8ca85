"""Read-side queries for ticket lists. No commits here."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import g, has_app_context
from sqlalchemy.orm import joinedload

from helpdesk.auth.models import Role, User
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import member_queue_ids, scope_queue_ids, ticket_scope
from helpdesk.sla.models import TicketSla
from helpdesk.tickets import search
from helpdesk.tickets.models import Message, Priority, Queue, QueueMembership, RequestRead, Status, Ticket

SORTS = ("relevance", "newest", "oldest", "priority", "due")
_LIST_LOADS = (joinedload(Ticket.requester), joinedload(Ticket.queue), joinedload(Ticket.assignee))
ACTIVE = (Status.NEW, Status.OPEN, Status.PENDING_PATIENT)
DONE = (Status.RESOLVED, Status.CLOSED)
# status filter values beyond the single statuses: "active" (not resolved), "done"
# (resolved or closed), "any"
STATUS_GROUPS = ("active", "done", "any")
# The list's total and the views' counts stop counting here ("1,000+"): a count never
# reads more than this many index entries, whatever the size of the desk (at 10,000 the
# counts statement cost about four times as much: bench/sla_dashboard.py).
COUNT_CAP = 1_000
# The views above the agent list: name, label, filters (status, assignee).
VIEWS = (
    ("open", "Open", {"status": "active", "assignee": None}),
    ("mine", "My open tickets", {"status": "active", "assignee": "mine"}),
    ("unassigned", "Unassigned", {"status": "active", "assignee": "unassigned"}),
    ("done", "Resolved & closed", {"status": "done", "assignee": None}),
    ("any", "All", {"status": "any", "assignee": None}),
)


@dataclass
class TicketFilters:
    queue: str | None = None
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None  # "mine" | "unassigned" | user id
    q: str | None = None
    sort: str = "newest"  # "relevance" (the best match first) is the default with a search
    cursor: str | None = None
    limit: int = 25
    page: int = 1  # the page number the cursor leads to (for "26-50 of 1,234")
    extra: dict[str, Any] = field(default_factory=dict)
    requester_id: int | None = None  # one patient's requests (the API's patient_system/patient_value)
    # set by ticket_list: the text matches were more than this, and the newest this many were ranked
    ranked_newest: int | None = field(default=None, init=False)

    @classmethod
    def from_args(cls, args: Any, limit: int) -> TicketFilters:
        """The agent list's filters: without a status, open tickets ("active") — a search
        looks at every status ("any") unless one is chosen."""
        def get(name: str) -> str | None:
            value = args.get(name)
            return value.strip() if isinstance(value, str) and value.strip() else None

        page = get("page") or "1"
        f = cls(
            queue=get("queue"),
            status=get("status") or default_status(get("q")),
            priority=get("priority"),
            assignee=get("assignee"),
            q=get("q"),
            sort=get("sort") or default_sort(get("q")),
            cursor=get("cursor"),
            limit=limit,
            page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
        )
        if not f.cursor:
            f.page = 1
        f.validate()
        return f

    def validate(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.sort not in SORTS:
            errors["sort"] = [f"One of: {', '.join(SORTS)}."]
        if self.status and self.status not in {s.value for s in Status} | set(STATUS_GROUPS):
            errors["status"] = ["Unknown status."]
        if self.priority and self.priority not in {p.value for p in Priority}:
            errors["priority"] = ["Unknown priority."]
        if self.assignee and self.assignee not in ("mine", "unassigned") and not self.assignee.isdigit():
            errors["assignee"] = ["Use mine, unassigned or a user id."]
        if self.q and len(self.q) > 200:
            errors["q"] = ["At most 200 characters."]
        if errors:
            raise ValidationFailed("Some filters are not valid.", fields=errors)
        if self.sort == "relevance" and not self.q:
            self.sort = "newest"  # nothing to rank by

    def as_args(self, **override: Any) -> dict[str, str]:
        args = {
            "queue": self.queue, "status": self.status if self.status != default_status(self.q) else None,
            "priority": self.priority, "assignee": self.assignee, "q": self.q,
            "sort": self.sort if self.sort != default_sort(self.q) else None,
        }
        args.update(override)
        return {k: v for k, v in args.items() if v}


def default_sort(q: str | None) -> str:
    return "relevance" if q else "newest"


def default_status(q: str | None) -> str:
    return "any" if q else "active"


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if sort == "due":
            due, ident = values
            return [datetime.fromisoformat(due) if due is not None else None, int(ident)]
        if sort == "relevance":
            score, ident = values
            return [int(score), int(ident)]
        if sort == "priority":
            rank, created, ident = values
            return [int(rank), datetime.fromisoformat(created), int(ident)]
        created, ident = values
        return [datetime.fromisoformat(created), int(ident)]
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed("That page link is not valid.", fields={"cursor": ["Invalid cursor."]}) from None


def _conditions(user: User, f: TicketFilters) -> tuple[list[sa.ColumnElement[bool]], set[int] | None,
                                                     tuple[str, ...] | None]:
    """``user``'s scope and the filters other than the search, as WHERE conditions on Ticket;
    with the scope as queues and the statuses when those say it all (for the search table)."""
    conditions: list[sa.ColumnElement[bool]] = [ticket_scope(user)]
    queue_ids = scope_queue_ids(user)  # the scope as queues (staff): the search applies it on its own table
    statuses: tuple[str, ...] | None = None
    if f.queue:
        queue_id = _queue_id(f.queue)
        conditions.append(Ticket.queue_id == queue_id if queue_id is not None else sa.false())
        if queue_ids is not None:
            queue_ids = queue_ids & {queue_id}
    group = {"active": ACTIVE, "done": DONE}.get(f.status or "")
    if group is not None:
        statuses = tuple(s.value for s in group)
        conditions.append(Ticket.status.in_(group))
    elif f.status and f.status != "any":
        statuses = (Status(f.status).value,)
        conditions.append(Ticket.status == Status(f.status))
    if f.priority:
        conditions.append(Ticket.priority == Priority(f.priority))
        queue_ids = None
    if f.assignee == "mine":
        conditions.append(Ticket.assignee_id == user.id)
    elif f.assignee == "unassigned":
        conditions.append(Ticket.assignee_id.is_(None))
    elif f.assignee:
        conditions.append(Ticket.assignee_id == int(f.assignee))
    if f.assignee:
        queue_ids = None
    if f.requester_id is not None:
        conditions.append(Ticket.requester_id == f.requester_id)
        queue_ids = None
    return conditions, queue_ids, statuses


def _queue_id(slug: str) -> int | None:
    """The id of the queue ``slug`` names, read once per request (the list's tab counts
    apply the same queue filter seven times)."""
    cache = g.setdefault("_queue_ids_by_slug", {}) if has_app_context() else {}
    if slug not in cache:
        queue_id = db.session.scalar(sa.select(Queue.id).where(Queue.slug == slug))
        if queue_id is None:
            return None  # not remembered: a queue may be made with that name later
        cache[slug] = queue_id
    return cache[slug]


def _hits(user: User, f: TicketFilters, *, ranked: bool) -> tuple[list[sa.ColumnElement[bool]], sa.Subquery | None]:
    """The conditions, and the search's matches (None: the search can match nothing);
    the first page sorted by relevance needs only the best ``limit + 1`` of them."""
    conditions, queue_ids, statuses = _conditions(user, f)
    first_page = ranked and f.sort == "relevance" and not f.cursor
    scope = search.Scope(conditions=tuple(conditions), statuses=statuses, ranked=ranked,
                         queue_ids=frozenset(queue_ids) if queue_ids is not None else None,
                         best=f.limit + 1 if first_page else None)
    return conditions, search.hits(user, f.q or "", scope)


def _capped(stmt: sa.Select) -> sa.ScalarSelect:
    """The number of rows of ``stmt`` (a ``select(Ticket.id)``), counting at most COUNT_CAP + 1."""
    return sa.select(sa.func.count()).select_from(stmt.limit(COUNT_CAP + 1).subquery()).scalar_subquery()


def list_counts(user: User, f: TicketFilters) -> tuple[int, dict[str, int]]:
    """In one statement: how many tickets the list's filters (search included) match, and
    how many are in each of VIEWS (within the chosen queue); each up to COUNT_CAP + 1."""
    if f.q:
        conditions, hits = _hits(user, f, ranked=False)
        total = sa.select(Ticket.id).where(*conditions)
        total = total.join(hits, hits.c.ticket_id == Ticket.id) if hits is not None else total.where(sa.false())
    else:
        total = sa.select(Ticket.id).where(*_conditions(user, f)[0])
    columns = [_capped(total).label("total")]
    for name, _label, args in VIEWS:
        view = TicketFilters(queue=f.queue, status=args["status"], assignee=args["assignee"])
        columns.append(_capped(sa.select(Ticket.id).where(*_conditions(user, view)[0])).label(name))
    row = db.session.execute(sa.select(*columns)).one()
    return row.total, {name: getattr(row, name) for name, _label, _args in VIEWS}


def ticket_list(user: User, f: TicketFilters) -> tuple[list[Ticket], str | None]:
    """One page of the tickets ``user`` may see, keyset-paginated; three queries at most.
    With a search, sets ``f.ranked_newest`` when more text matches were found than ranked."""
    hits = None
    if f.q:
        # reference, patient, text: the permissions and filters are inside each part of the search
        conditions, hits = _hits(user, f, ranked=f.sort == "relevance")
        if hits is None:
            return [], None
        stmt = sa.select(Ticket).where(*conditions).join(hits, hits.c.ticket_id == Ticket.id)
    else:
        stmt = sa.select(Ticket).where(*_conditions(user, f)[0])

    if f.sort == "due":
        return _due_soonest(stmt, f)
    if f.sort == "relevance" and hits is not None:
        # the best first, then the newest (by ticket number): the search's own columns only,
        # so the database sorts the matches without reading their tickets
        return _by_relevance(hits, f)
    if f.sort == "priority":
        keys = [Ticket.priority_rank, Ticket.created_at, Ticket.id]
        order = [k.desc() for k in keys]
        cmp = "lt"
    elif f.sort == "oldest":
        keys = [Ticket.created_at, Ticket.id]
        order = [k.asc() for k in keys]
        cmp = "gt"
    else:
        keys = [Ticket.created_at, Ticket.id]
        order = [k.desc() for k in keys]
        cmp = "lt"
    if f.cursor:
        values = _decode_cursor(f.cursor, f.sort)
        row, bound = sa.tuple_(*keys), sa.tuple_(*[sa.literal(v, type_=k.type) for k, v in zip(keys, values, strict=True)])
        stmt = stmt.where(row < bound if cmp == "lt" else row > bound)
    stmt = stmt.order_by(*order).limit(f.limit + 1).options(*_LIST_LOADS)
    rows = list(db.session.scalars(stmt).unique())
    next_cursor = None
    if len(rows) > f.limit:
        rows = rows[: f.limit]
        last = rows[-1]
        keys_of_last = [last.created_at, last.id]
        next_cursor = _encode_cursor([last.priority_rank, *keys_of_last] if f.sort == "priority" else keys_of_last)
    return rows, next_cursor


def _by_relevance(hits: sa.Subquery, f: TicketFilters) -> tuple[list[Ticket], str | None]:
    """Sort "relevance": the best score first, then the newest (the highest ticket number);
    each part of ``hits`` applied the permissions and filters already."""
    keys = [hits.c.score, hits.c.ticket_id]
    # the page's tickets in the same statement (the database sorts the matches on the
    # search's own columns, then joins the page's tickets)
    stmt = sa.select(Ticket, hits.c.score, hits.c.capped).join(hits, hits.c.ticket_id == Ticket.id)
    if f.cursor:
        score, ident = _decode_cursor(f.cursor, "relevance")
        stmt = stmt.where(sa.tuple_(*keys) < sa.tuple_(sa.literal(score), sa.literal(ident)))
    found = db.session.execute(stmt.order_by(*[k.desc() for k in keys]).limit(f.limit + 1)
                               .options(*_LIST_LOADS)).all()
    if any(capped for _, _, capped in found):
        f.ranked_newest = search.RANKED_NEWEST
    rows = [ticket for ticket, _, _ in found[: f.limit]]
    next_cursor = None
    if len(found) > f.limit:
        next_cursor = _encode_cursor([found[f.limit - 1][1], found[f.limit - 1][0].id])
    return rows, next_cursor


def _due_soonest(stmt: sa.Select, f: TicketFilters) -> tuple[list[Ticket], str | None]:
    """Sort "due": the soonest SLA due time first, tickets without a running clock last
    (keyset over ticket_sla (next_due_at, ticket_id), index ix_ticket_sla_next_due)."""
    due, tid = TicketSla.next_due_at, TicketSla.ticket_id
    stmt = stmt.join(TicketSla, TicketSla.ticket_id == Ticket.id)
    if f.cursor:
        c_due, c_id = _decode_cursor(f.cursor, "due")
        if c_due is None:
            stmt = stmt.where(due.is_(None), tid > c_id)
        else:
            bound = sa.tuple_(sa.literal(c_due, type_=due.type), sa.literal(c_id))
            stmt = stmt.where(sa.or_(sa.tuple_(due, tid) > bound, due.is_(None)))
    stmt = stmt.order_by(due.asc().nulls_last(), tid.asc()).limit(f.limit + 1).options(
        joinedload(Ticket.requester), joinedload(Ticket.queue), joinedload(Ticket.assignee)
    )
    rows = list(db.session.scalars(stmt).unique())
    next_cursor = None
    if len(rows) > f.limit:
        rows = rows[: f.limit]
        last_due = db.session.scalar(sa.select(due).where(tid == rows[-1].id))
        next_cursor = _encode_cursor([last_due, rows[-1].id])
    return rows, next_cursor


def member_queues(user: User) -> list[Queue]:
    ids = member_queue_ids(user)
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Queue).where(Queue.id.in_(ids)).order_by(Queue.name)))


def queue_counts(user: User) -> list[dict[str, Any]]:
    """Per queue the user works in: ticket counts by status (aggregated in SQL)."""
    queues = member_queues(user)
    if not queues:
        return []
    ids = {q.id for q in queues}
    counts = db.session.execute(
        sa.select(Ticket.queue_id, Ticket.status, sa.func.count())
        .where(Ticket.queue_id.in_(ids))
        .group_by(Ticket.queue_id, Ticket.status)
    ).all()
    by_queue: dict[int, dict[str, int]] = {q.id: {s.value: 0 for s in Status} for q in queues}
    for queue_id, status, n in counts:
        by_queue[queue_id][Status(status).value] = n
    mine = dict(
        db.session.execute(
            sa.select(Ticket.queue_id, sa.func.count())
            .where(Ticket.queue_id.in_(ids), Ticket.assignee_id == user.id,
                   Ticket.status.in_([Status.NEW, Status.OPEN, Status.PENDING_PATIENT]))
            .group_by(Ticket.queue_id)
        ).all()
    )
    return [{"queue": q, "counts": by_queue[q.id], "mine": mine.get(q.id, 0)} for q in queues]


def patient_requests(user: User, cursor: str | None, limit: int) -> tuple[list[Ticket], str | None]:
    return ticket_list(user, TicketFilters(sort="newest", cursor=cursor, limit=limit))  # every status


STAFF_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


def unread_replies(user: User, ticket_ids) -> set[int]:
    """Which of ``ticket_ids`` have a public staff message ``user`` has not seen (their
    read marker, ``RequestRead``; none yet: every public staff message is unread).
    Internal notes are never public, so they never count. One query."""
    ids = list(ticket_ids)
    if not ids:
        return set()
    seen = (sa.select(RequestRead.last_seen_message_id)
            .where(RequestRead.ticket_id == Message.ticket_id, RequestRead.user_id == user.id)
            .scalar_subquery())
    stmt = (sa.select(Message.ticket_id).distinct()
            .join(User, User.id == Message.author_id)
            .where(Message.ticket_id.in_(ids), Message.public.is_(True), User.role.in_(STAFF_ROLES),
                   Message.id > sa.func.coalesce(seen, 0)))
    return set(db.session.scalars(stmt))


def last_public_from_staff(ticket_ids) -> set[int]:
    """Which of ``ticket_ids`` have a staff member's message as their newest public one."""
    ids = list(ticket_ids)
    if not ids:
        return set()
    newest = (sa.select(Message.ticket_id, sa.func.max(Message.id).label("id"))
              .where(Message.ticket_id.in_(ids), Message.public.is_(True))
              .group_by(Message.ticket_id).subquery())
    stmt = (sa.select(newest.c.ticket_id).join(Message, Message.id == newest.c.id)
            .join(User, User.id == Message.author_id).where(User.role.in_(STAFF_ROLES)))
    return set(db.session.scalars(stmt))


def assignable_agents(queue_id: int) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .join(QueueMembership, QueueMembership.user_id == User.id)
            .where(QueueMembership.queue_id == queue_id, User.active.is_(True))
            .order_by(User.display_name)
        )
    )


def active_queues() -> list[Queue]:
    return list(db.session.scalars(sa.select(Queue).where(Queue.active.is_(True)).order_by(Queue.name)))


def assignable_agents_in(queue_ids) -> list[User]:
    """Active staff who are members of any of ``queue_ids`` (one query)."""
    ids = set(queue_ids)
    if not ids:
        return []
    member = sa.select(QueueMembership.user_id).where(QueueMembership.queue_id.in_(ids))
    return list(db.session.scalars(
        sa.select(User).where(User.id.in_(member), User.active.is_(True),
                              User.role.in_([Role.AGENT, Role.SUPERVISOR, Role.ADMIN]))
        .order_by(User.display_name)
    ))
