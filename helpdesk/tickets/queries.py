"""Read-side queries for ticket lists. No commits here."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from helpdesk.auth.models import Role, User
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import member_queue_ids, ticket_scope
from helpdesk.sla.models import TicketSla
from helpdesk.tickets import search
from helpdesk.tickets.models import Priority, Queue, QueueMembership, Status, Ticket

SORTS = ("relevance", "newest", "oldest", "priority", "due")
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
        if sort in ("priority", "relevance"):
            rank, created, ident = values
            return [int(rank), datetime.fromisoformat(created), int(ident)]
        created, ident = values
        return [datetime.fromisoformat(created), int(ident)]
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed("That page link is not valid.", fields={"cursor": ["Invalid cursor."]}) from None


def _filtered(stmt: sa.Select, user: User, f: TicketFilters) -> sa.Select:
    """``stmt`` narrowed to ``user``'s scope and the filters other than the search."""
    stmt = stmt.where(ticket_scope(user))
    if f.queue:
        stmt = stmt.where(Ticket.queue_id == sa.select(Queue.id).where(Queue.slug == f.queue).scalar_subquery())
    if f.status == "active":
        stmt = stmt.where(Ticket.status.in_(ACTIVE))
    elif f.status == "done":
        stmt = stmt.where(Ticket.status.in_(DONE))
    elif f.status and f.status != "any":
        stmt = stmt.where(Ticket.status == Status(f.status))
    if f.priority:
        stmt = stmt.where(Ticket.priority == Priority(f.priority))
    if f.assignee == "mine":
        stmt = stmt.where(Ticket.assignee_id == user.id)
    elif f.assignee == "unassigned":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif f.assignee:
        stmt = stmt.where(Ticket.assignee_id == int(f.assignee))
    return stmt


def _capped(stmt: sa.Select) -> sa.ScalarSelect:
    """The number of rows of ``stmt`` (a ``select(Ticket.id)``), counting at most COUNT_CAP + 1."""
    return sa.select(sa.func.count()).select_from(stmt.limit(COUNT_CAP + 1).subquery()).scalar_subquery()


def list_counts(user: User, f: TicketFilters) -> tuple[int, dict[str, int]]:
    """In one statement: how many tickets the list's filters (search included) match, and
    how many are in each of VIEWS (within the chosen queue); each up to COUNT_CAP + 1."""
    total = _filtered(sa.select(Ticket.id), user, f)
    if f.q:
        hits = search.hits(user, f.q)
        total = total.join(hits, hits.c.ticket_id == Ticket.id) if hits is not None else total.where(sa.false())
    columns = [_capped(total).label("total")]
    for name, _label, args in VIEWS:
        view = TicketFilters(queue=f.queue, status=args["status"], assignee=args["assignee"])
        columns.append(_capped(_filtered(sa.select(Ticket.id), user, view)).label(name))
    row = db.session.execute(sa.select(*columns)).one()
    return row.total, {name: getattr(row, name) for name, _label, _args in VIEWS}


def ticket_list(user: User, f: TicketFilters) -> tuple[list[Ticket], str | None]:
    """One page of the tickets ``user`` may see, keyset-paginated; three queries at most."""
    stmt = _filtered(sa.select(Ticket), user, f)
    hits = None
    if f.q:
        # reference, patient, text: permissions stay in the WHERE above (ticket_scope)
        hits = search.hits(user, f.q)
        if hits is None:
            return [], None
        stmt = stmt.join(hits, hits.c.ticket_id == Ticket.id)

    if f.sort == "due":
        return _due_soonest(stmt, f)
    if f.sort == "relevance" and hits is not None:
        keys = [hits.c.score, Ticket.created_at, Ticket.id]
        order = [k.desc() for k in keys]
        cmp = "lt"
        stmt = stmt.add_columns(hits.c.score)
    elif f.sort == "priority":
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
    stmt = stmt.order_by(*order).limit(f.limit + 1).options(
        joinedload(Ticket.requester), joinedload(Ticket.queue), joinedload(Ticket.assignee)
    )
    scores: list[int] = []
    if f.sort == "relevance" and hits is not None:
        pairs = db.session.execute(stmt).unique().all()
        rows, scores = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        rows = list(db.session.scalars(stmt).unique())
    next_cursor = None
    if len(rows) > f.limit:
        rows = rows[: f.limit]
        last = rows[-1]
        if scores:
            values = [scores[f.limit - 1], last.created_at, last.id]
        elif f.sort == "priority":
            values = [last.priority_rank, last.created_at, last.id]
        else:
            values = [last.created_at, last.id]
        next_cursor = _encode_cursor(values)
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
