"""What happens next on a patient's request, in plain words (issue 22).

One answer per request, from its status and its open reply clock (helpdesk.sla):

* ``expected`` — the help desk owes a reply and a target applies: the time it is due,
  shown in the patient's time zone (*Account security → Time zone*; the site's,
  ``SITE_TIMEZONE``, unless they chose one) with the zone named;
* ``late`` — that time has passed: no time is shown, an apology is;
* ``as_soon`` — a reply is owed but no SLA target applies: no time is promised;
* ``replied`` — the newest public message is the help desk's and the request is open;
* ``waiting`` — waiting for the patient (the SLA clocks are paused on them);
* ``resolved`` / ``closed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from babel import dates
from flask_babel import get_locale
from flask_babel import gettext as _

from helpdesk.sla import services as sla
from helpdesk.tickets import queries
from helpdesk.tickets.models import Status, Ticket
from helpdesk.viewer_time import viewer_zone


@dataclass(frozen=True)
class NextStep:
    kind: str
    due_at: datetime | None = None


def next_steps(tickets: Iterable[Ticket]) -> dict[int, NextStep]:
    """The next step of each ticket (a page of them: two queries)."""
    tickets = list(tickets)
    owed = [t.id for t in tickets if t.status in (Status.NEW, Status.OPEN)]
    clocks = sla.reply_clocks(owed)
    answered = queries.last_public_from_staff(owed)
    out = {}
    for t in tickets:
        out[t.id] = decide(t.status, clocks.get(t.id), t.id in answered)
    return out


def decide(status: Status, clock: dict | None, answered: bool) -> NextStep:
    """The rule itself: ``clock`` is the ticket's open reply clock (or None), ``answered``
    whether the newest public message is the help desk's."""
    status = Status(status)
    if status == Status.CLOSED:
        return NextStep("closed")
    if status == Status.RESOLVED:
        return NextStep("resolved")
    if status == Status.PENDING_PATIENT:
        return NextStep("waiting")
    if clock is not None and not clock["paused"] and clock["due_at"] is not None:
        if clock["state"] == sla.BREACHED:
            return NextStep("late")
        return NextStep("expected", clock["due_at"])
    if answered:
        return NextStep("replied")
    return NextStep("as_soon")


def local_time(value: datetime) -> tuple[str, str]:
    """``value`` in the viewer's time zone (their own, else the site's), in the page's
    language, and the zone's name: ("Tue, Dec 8, 2026, 10:00 AM", "Eastern Standard Time")."""
    zone = viewer_zone()
    locale = str(get_locale() or "en")
    day = dates.format_skeleton("yMMMEd", value, tzinfo=zone, locale=locale)
    time = dates.format_time(value, "short", tzinfo=zone, locale=locale)
    name = dates.get_timezone_name(value.astimezone(zone), width="long", locale=locale)
    return f"{day}, {time}", name


def wording(step: NextStep) -> str:
    """The sentence the patient reads, in the current language."""
    if step.kind == "expected" and step.due_at is not None:
        when, zone = local_time(step.due_at)
        return _("Expected reply by %(when)s (%(zone)s).", when=when, zone=zone)
    return {
        "late": _("Our reply is taking longer than we aimed for. We're sorry for the wait."),
        "as_soon": _("We'll reply as soon as we can."),
        "replied": _("We've replied. Your request stays open until it's solved."),
        "waiting": _("We're waiting for you: please reply so we can continue."),
        "resolved": _("We think this is solved. If it isn't, reply and we'll reopen it."),
        "closed": _("This request is closed. Writing to it starts a new request."),
    }[step.kind]
