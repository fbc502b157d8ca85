"""The admin jobs on the command line: `flask patients`, `flask users invite/reactivate/set-role`,
`flask sla calendar-save/calendar-show`, `flask queues`. Each goes through the service the
admin page calls, writes the same audit row (actor: the system, or the admin of `--as`),
and refuses bad input with a message, exit 1 (2 for click's own usage errors) and no change."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import portal as identities
from helpdesk.auth import throttle
from helpdesk.auth.models import Role, User
from helpdesk.db import commit, unit_of_work
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.sla.models import SlaCalendar, SlaQueueSettings
from helpdesk.tickets.models import Assignment, Ticket


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def cli(app, ctx):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(args=list(args), input=input)
        db.session.expire_all()  # the command committed in this session: read what it wrote
        return result

    return invoke


def _fail_sign_ins(app, user: User, n: int) -> None:
    client = app.test_client()
    for _ in range(n):
        client.post("/login", data={"email": user.email, "password": "not the password"})


# ---------------------------------------------------------------- patients


def test_patients_search_by_name_email_external_id_and_birth_date_is_audited(cli, admin, patient, other_patient,
                                                                             portal):
    patient.date_of_birth, patient.mrn = date(1980, 5, 17), "MRN-4471"
    commit()
    with unit_of_work():
        identities.resolve_patient(system="epic", value="E-100", actor=portal[0], email=patient.email,
                                   name=patient.display_name)
    for args in (["lopez"], [patient.email.upper()], ["epic:E-100"], ["E-100"], ["--birth-date", "1980-05-17"],
                 ["MRN-4471"]):
        result = cli("patients", "search", *args)
        assert result.exit_code == 0, result.output
        assert f"{patient.id}\tactive\t{patient.email}\tMaria Lopez" in result.output, args
        assert "John Other" not in result.output and "MRN-4471" not in result.output.split("\n", 1)[0]
    searches = _events("patient.accounts_searched")
    assert len(searches) == 6 and {e.actor_id for e in searches} == {None}
    assert all(e.changes["shown"] == [patient.id] for e in searches)

    result = cli("patients", "search", "lopez", "--as", admin.email)
    assert result.exit_code == 0 and _events("patient.accounts_searched")[-1].actor_id == admin.id

    for bad, message in ((["lopez", "--birth-date", "17/05/1980"], "YYYY-MM-DD"), ([], "Give TEXT"),
                         (["x" * 300], "at most 254"), (["lopez", "--as", patient.email], "no active admin")):
        result = cli("patients", "search", *bad)
        assert result.exit_code == 1 and message in result.output, (bad, result.output)
    assert len(_events("patient.accounts_searched")) == 7  # the refusals searched nothing


def test_patients_show_lists_requests_lockout_verification_and_identifiers_as_an_audited_read(
        app, cli, admin, patient, make_ticket, portal):
    ticket = make_ticket()
    with unit_of_work():
        identities.resolve_patient(system="epic", value="E-200", actor=portal[0], email=patient.email,
                                   name=patient.display_name)
    _fail_sign_ins(app, patient, throttle.ACCOUNT.max_failures)
    result = cli("patients", "show", str(patient.id), "--as", admin.email)
    assert result.exit_code == 0, result.output
    out = result.output
    assert ticket.reference in out and ticket.subject not in out
    assert "e-mail: confirmed" in out and "lock-out: locked until" in out and "external ids: epic:E-200" in out
    assert "sign in failed" in out
    (viewed,) = _events("patient.account_viewed")
    assert viewed.actor_id == admin.id and viewed.object_id == str(patient.id)

    result = cli("patients", "show", str(admin.id))  # not a patient account
    assert result.exit_code == 1 and "No such patient account." in result.output
    assert cli("patients", "show", str(2**31)).exit_code == 2  # beyond any id: click's usage error
    assert len(_events("patient.account_viewed")) == 1


def test_patients_unlock_reset_deactivate_reactivate(app, cli, admin, patient):
    result = cli("patients", "unlock", str(patient.id))
    assert result.exit_code == 1 and "Nothing to unlock" in result.output and _events("auth.unlocked") == []

    _fail_sign_ins(app, patient, 2)
    result = cli("patients", "unlock", str(patient.id), "--as", admin.email)
    assert result.exit_code == 0, result.output
    (unlocked,) = _events("auth.unlocked")
    assert unlocked.actor_id == admin.id and unlocked.changes["before"]["failures"] == 2

    result = cli("patients", "reset-password", str(patient.id))
    assert result.exit_code == 0, result.output
    (forced,) = _events("password.reset_forced")
    assert forced.actor_id is None and db.session.get(User, patient.id).password_hash is None
    assert db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset",
                                                             OutgoingEmail.to_addr == patient.email)).all()

    result = cli("patients", "deactivate", str(patient.id))
    assert result.exit_code == 0 and not db.session.get(User, patient.id).active
    assert _events("user.deactivated")[-1].object_id == str(patient.id)
    result = cli("patients", "deactivate", str(patient.id))
    assert result.exit_code == 1 and "Nothing changed." in result.output
    result = cli("patients", "reset-password", str(patient.id))
    assert result.exit_code == 1 and "reactivate it first" in result.output
    assert len(_events("password.reset_forced")) == 1

    result = cli("patients", "reactivate", str(patient.id), "--as", admin.email)
    assert result.exit_code == 0 and db.session.get(User, patient.id).active
    assert _events("user.activated")[-1].actor_id == admin.id
    assert cli("patients", "reactivate", "999999").exit_code == 1


def test_patients_merge_asks_first_prints_what_moved_and_refuses_a_tombstone(cli, admin, patient, other_patient,
                                                                             make_ticket):
    ticket = make_ticket(requester=other_patient)
    result = cli("patients", "merge", str(other_patient.id), str(patient.id), input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert db.session.get(User, other_patient.id).merged_into_id is None and _events("patient.merged_away") == []

    result = cli("patients", "merge", str(other_patient.id), str(other_patient.id), "--yes")
    assert result.exit_code == 1 and "two different accounts" in result.output

    result = cli("patients", "merge", str(other_patient.id), str(patient.id), "--as", admin.email, input="y\n")
    assert result.exit_code == 0, result.output
    assert "tickets.requester_id: 1 moved" in result.output
    assert db.session.get(Ticket, ticket.id).requester_id == patient.id
    assert db.session.get(User, other_patient.id).merged_into_id == patient.id
    (away,), (into,) = _events("patient.merged_away"), _events("patient.merged_into")
    assert away.actor_id == into.actor_id == admin.id and into.changes["from"] == other_patient.id

    result = cli("patients", "reactivate", str(other_patient.id))
    assert result.exit_code == 1 and "merged into another" in result.output
    result = cli("patients", "merge", str(other_patient.id), str(patient.id), "--yes")
    assert result.exit_code == 1 and "already merged" in result.output


# ---------------------------------------------------------------- users


def test_users_invite_reactivate_and_set_role(cli, admin, agent):
    result = cli("users", "invite", "--email", "New.Agent@Example.org", "--name", "New Agent", "--role", "agent",
                 "--as", admin.email)
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "new.agent@example.org"))
    assert user.role == Role.AGENT and user.password_hash is None
    (invited,) = _events("user.invited")
    assert invited.actor_id == admin.id and invited.changes == {"role": "agent"}
    assert db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.to_addr == user.email)).all()

    result = cli("users", "invite", "--email", "new.agent@example.org", "--name", "Again", "--role", "agent")
    assert result.exit_code == 1 and "already exists" in result.output
    result = cli("users", "invite", "--email", "p@example.org", "--name", "P", "--role", "patient")
    assert result.exit_code == 2  # not a staff role: click refuses the choice
    assert len(_events("user.invited")) == 1

    result = cli("users", "set-role", agent.email, "supervisor")
    assert result.exit_code == 0, result.output
    (changed,) = _events("user.role_changed")
    assert changed.actor_id is None and changed.changes["role"] == {"before": "agent", "after": "supervisor"}
    result = cli("users", "set-role", admin.email, "agent", "--as", admin.email)
    assert result.exit_code == 1 and "your own role" in result.output
    assert cli("users", "set-role", "nobody@example.org", "agent").exit_code == 1
    assert len(_events("user.role_changed")) == 1

    assert cli("users", "deactivate", agent.email).exit_code == 0
    result = cli("users", "reactivate", agent.email, "--as", admin.email)
    assert result.exit_code == 0 and db.session.get(User, agent.id).active
    assert _events("user.activated")[-1].actor_id == admin.id
    result = cli("users", "reactivate", agent.email)
    assert result.exit_code == 1 and "Nothing changed." in result.output


# ---------------------------------------------------------------- calendars


CALENDAR = {"name": "Billing office", "timezone": "America/Chicago",
            "hours": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "fri": [["08:00", "12:00"]]},
            "presets": ["us-federal"], "holidays": ["2027-12-24"]}


def test_sla_calendar_save_and_show(cli, admin, tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(CALENDAR))
    result = cli("sla", "calendar-save", str(path), "--as", admin.email)
    assert result.exit_code == 0, result.output
    cal_id = int(re.search(r"calendar (\d+)", result.output).group(1))
    (created,) = _events("sla_calendar.created")
    assert created.actor_id == admin.id and created.object_id == str(cal_id)

    shown = cli("sla", "calendar-show", str(cal_id))
    assert shown.exit_code == 0 and json.loads(shown.output) == CALENDAR

    edited = {**CALENDAR, "holidays": ["2027-12-24", "2027-12-31"]}
    result = cli("sla", "calendar-save", "-", "--id", str(cal_id), input=json.dumps(edited))
    assert result.exit_code == 0, result.output
    (updated,) = _events("sla_calendar.updated")
    assert updated.actor_id is None and updated.changes["spec"]["after"]["holidays"] == ["2027-12-24", "2027-12-31"]

    for bad, message in (({**CALENDAR, "timezone": "Mars/Olympus"}, "time zone"),
                         ({**CALENDAR, "name": ""}, "name"),
                         ({**CALENDAR, "colour": "red"}, "unknown field"),
                         ({**CALENDAR, "hours": {"mon": [["18:00", "08:00"]]}}, ""),
                         ({**CALENDAR, "hours": "all day"}, ""),
                         ({**CALENDAR, "holidays": ["24/12/2027"]}, ""),
                         ({**CALENDAR, "presets": ["mars"]}, "preset"),
                         ([1, 2], "one JSON object")):
        result = cli("sla", "calendar-save", "-", "--id", str(cal_id), input=json.dumps(bad))
        assert result.exit_code == 1 and message in result.output, (bad, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (bad, result.exception)
    result = cli("sla", "calendar-save", "-", input="{not json")
    assert result.exit_code == 1 and "not JSON" in result.output
    result = cli("sla", "calendar-save", "-", input=json.dumps(edited))  # the name is taken
    assert result.exit_code == 1 and "already exists" in result.output
    assert db.session.get(SlaCalendar, cal_id).spec["holidays"] == ["2027-12-24", "2027-12-31"]
    assert len(_events("sla_calendar.updated")) == 1 and len(_events("sla_calendar.created")) == 1
    assert cli("sla", "calendar-show", "99999").exit_code == 1


# ---------------------------------------------------------------- queues


def test_queues_list_and_set(cli, admin, agent, queues):
    with unit_of_work():
        cal = SlaCalendar(name="Clinical line", spec={"timezone": "America/New_York", "hours": {}})
        db.session.add(cal)
    result = cli("queues", "list")
    assert result.exit_code == 0
    assert re.search(r"^billing\tBilling\tactive\tcalendar=-\tpolicy=-\tassignment=manual\tmembers=1$",
                     result.output, re.M), result.output

    result = cli("queues", "set", "billing", "--assignment", "round_robin", "--calendar", str(cal.id),
                 "--name-es", "Facturación", "--as", admin.email)
    assert result.exit_code == 0, result.output
    assert queues["billing"].assignment == Assignment.ROUND_ROBIN
    assert db.session.get(SlaQueueSettings, queues["billing"].id).calendar_id == cal.id
    (updated,) = _events("queue.updated")
    assert updated.actor_id == admin.id and updated.object_id == "billing"
    assert updated.changes["assignment"] == {"before": "manual", "after": "round_robin"}
    assert set(updated.changes) == {"assignment", "calendar_id", "name_es"}
    listed = cli("queues", "list").output
    assert f"calendar={cal.id} Clinical line" in listed and "assignment=round_robin" in listed

    result = cli("queues", "set", "billing", "--calendar", "none", "--inactive")
    assert result.exit_code == 0 and not queues["billing"].active
    assert _events("queue.updated")[-1].actor_id is None

    for args, message in ((["billing", "--calendar", "99999"], "existing calendar"),
                          (["billing", "--policy", "abc"], "--policy"),
                          (["billing", "--calendar", str(2**40)], "--calendar"),
                          (["triage", "--inactive"], "triage queue"),
                          (["billing"], "Nothing changed."),
                          (["billing", "--name", ""], "name"),
                          (["nowhere", "--active"], "No queue 'nowhere'"),
                          (["billing", "--active", "--as", agent.email], "no active admin")):
        result = cli("queues", "set", *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    assert cli("queues", "set", "billing", "--assignment", "random").exit_code == 2
    assert len(_events("queue.updated")) == 2 and not queues["billing"].active
