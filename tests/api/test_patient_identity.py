"""The portal's patient identity: requests created, found and listed by an external
patient identifier (system + value, unique per system)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpdesk.admin import patients as admin_patients
from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.auth.portal_models import PatientIdentifier
from helpdesk.extensions import db
from helpdesk.tickets.models import Ticket
from tests.factories import bearer, count, login

PATIENT = {"system": "portal", "value": "12345", "name": "Rosa Diaz", "email": "rosa.diaz@example.net"}
NEW = {"subject": "Can't pay my bill online", "body": "The payment page rejects my card for the March statement.",
       "patient": PATIENT}


def error_of(resp) -> dict:
    assert resp.is_json, resp.data[:200]
    return resp.get_json()["error"]


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _patients() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.role == Role.PATIENT))


def test_an_identifier_is_unique_per_system(ctx, patient, other_patient):
    db.session.add(PatientIdentifier(user_id=patient.id, system="portal", value="A1"))
    db.session.add(PatientIdentifier(user_id=other_patient.id, system="mrn", value="A1"))  # another system: fine
    db.session.commit()
    db.session.add(PatientIdentifier(user_id=other_patient.id, system="portal", value="A1"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert count(PatientIdentifier) == 2


def test_created_twice_with_one_identifier_makes_one_patient_account(client, portal, queues):
    integration, secret = portal
    first = client.post("/api/v1/tickets", json=NEW, headers=bearer(secret))
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["requester"] == {"name": "Rosa Diaz", "email": "rosa.diaz@example.net"}
    # the second time the portal sends other details: the identifier decides, the account is not changed
    again = {**NEW, "subject": "Another question", "patient": {**PATIENT, "name": "R. Diaz", "email": "rd@example.net"}}
    second = client.post("/api/v1/tickets", json=again, headers=bearer(secret))
    assert second.status_code == 201, second.get_json()
    # and without name and e-mail, once the identifier is known
    third = client.post("/api/v1/tickets", json={**NEW, "patient": {"system": "portal", "value": "12345"}},
                        headers=bearer(secret))
    assert third.status_code == 201, third.get_json()
    assert _patients() == 1 and count(PatientIdentifier) == 1
    identifier = db.session.scalars(sa.select(PatientIdentifier)).one()
    assert identifier.user.email == "rosa.diaz@example.net" and identifier.user.display_name == "Rosa Diaz"
    tickets = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
    assert {t.requester_id for t in tickets} == {identifier.user_id}
    assert {t.patient_identifier_id for t in tickets} == {identifier.id}  # each records the identifier
    added = _events("patient.identifier_added")
    assert len(added) == 1 and added[0].actor_id == integration.id and added[0].changes["system"] == "portal"
    assert "12345" not in str(added[0].changes)  # the audit row names the system, not the value


def test_an_unknown_identifier_joins_the_patient_account_with_that_address(client, portal, queues, patient):
    _integration, secret = portal
    payload = {**NEW, "patient": {**PATIENT, "email": patient.email.upper(), "name": "Maria"}}
    resp = client.post("/api/v1/tickets", json=payload, headers=bearer(secret))
    assert resp.status_code == 201, resp.get_json()
    identifier = db.session.scalars(sa.select(PatientIdentifier)).one()
    assert identifier.user_id == patient.id and _patients() == 1
    db.session.refresh(patient)
    assert patient.display_name == "Maria Lopez"  # unchanged


def test_an_unknown_identifier_without_name_and_email_is_refused(client, portal, queues):
    _integration, secret = portal
    resp = client.post("/api/v1/tickets", json={**NEW, "patient": {"system": "portal", "value": "777"}},
                       headers=bearer(secret))
    assert resp.status_code == 422
    err = error_of(resp)
    assert err["code"] == "validation_error" and set(err["fields"]["patient"]) == {"name", "email"}
    assert count(Ticket) == 0 and count(PatientIdentifier) == 0 and _patients() == 0


@pytest.mark.parametrize(
    ("patient_json", "field"),
    [
        ({**PATIENT, "system": "Portal"}, "patient"),  # systems are lower case
        ({**PATIENT, "system": ""}, "patient"),
        ({**PATIENT, "value": "12 345"}, "patient"),
        ({**PATIENT, "value": "x" * 65}, "patient"),
        ({**PATIENT, "email": "not-an-email"}, "patient"),
        ({**PATIENT, "surprise": 1}, "patient"),
        ({"value": "12345"}, "patient"),
    ],
)
def test_bad_identifiers_get_a_422_and_write_nothing(client, portal, queues, patient_json, field):
    _integration, secret = portal
    resp = client.post("/api/v1/tickets", json={**NEW, "patient": patient_json}, headers=bearer(secret))
    assert resp.status_code == 422, resp.get_json()
    assert field in error_of(resp)["fields"]
    assert count(Ticket) == 0 and count(PatientIdentifier) == 0


def test_requester_or_patient_not_both_nor_neither(client, portal, queues):
    _integration, secret = portal
    both = {**NEW, "requester": {"email": "a@example.net", "name": "A"}}
    neither = {k: v for k, v in NEW.items() if k != "patient"}
    for payload in (both, neither):
        resp = client.post("/api/v1/tickets", json=payload, headers=bearer(secret))
        assert resp.status_code == 422 and "patient" in error_of(resp)["fields"]
    assert count(Ticket) == 0


def test_conflicts_are_409_and_write_nothing(client, portal, queues, agent, patient, make_user):
    _integration, secret = portal
    staff = {**NEW, "patient": {**PATIENT, "email": agent.email}}
    resp = client.post("/api/v1/tickets", json=staff, headers=bearer(secret))
    assert resp.status_code == 409 and error_of(resp)["code"] == "conflict"
    # the address is a patient's who already has another identifier of this system
    db.session.add(PatientIdentifier(user_id=patient.id, system="portal", value="999"))
    db.session.commit()
    taken = {**NEW, "patient": {**PATIENT, "email": patient.email}}
    resp = client.post("/api/v1/tickets", json=taken, headers=bearer(secret))
    assert resp.status_code == 409 and "another identifier" in error_of(resp)["message"]
    # a self-registered account that never confirmed the address: anyone could have made it
    accounts.register_patient(email="unconfirmed@example.net", name="Some One", password="a long enough passphrase")
    resp = client.post("/api/v1/tickets", json={**NEW, "patient": {**PATIENT, "email": "unconfirmed@example.net"}},
                       headers=bearer(secret))
    assert resp.status_code == 409 and "never confirmed" in error_of(resp)["message"]
    # a deactivated account
    accounts.set_active(actor=None, user=patient, active=False)
    resp = client.post("/api/v1/tickets", json={**NEW, "patient": {"system": "portal", "value": "999"}},
                       headers=bearer(secret))
    assert resp.status_code == 409 and "deactivated" in error_of(resp)["message"]
    assert count(Ticket) == 0 and count(PatientIdentifier) == 1


def test_only_integration_tokens_create_by_identifier(client, ctx, queues, patient, agent):
    for user in (patient, agent):
        _t, secret = accounts.create_api_token(actor=None, name="mine", user=user)
        assert client.post("/api/v1/tickets", json=NEW, headers=bearer(secret)).status_code == 403
    assert client.post("/api/v1/tickets", json=NEW).status_code == 401
    assert count(PatientIdentifier) == 0


def test_requests_are_listed_by_identifier(client, portal, queues, make_ticket, patient, other_patient):
    integration, secret = portal
    for subject in ("First", "Second"):
        assert client.post("/api/v1/tickets", json={**NEW, "subject": subject}, headers=bearer(secret)).status_code == 201
    other = {**NEW, "subject": "Someone else", "patient": {**PATIENT, "value": "555", "email": "x@example.net"}}
    assert client.post("/api/v1/tickets", json=other, headers=bearer(secret)).status_code == 201
    make_ticket(requester=other_patient)  # not the portal's
    resp = client.get("/api/v1/tickets?patient_system=portal&patient_value=12345", headers=bearer(secret))
    assert resp.status_code == 200
    assert sorted(t["subject"] for t in resp.get_json()["items"]) == ["First", "Second"]
    # paginated like every list
    page = client.get("/api/v1/tickets?patient_system=portal&patient_value=12345&limit=1", headers=bearer(secret))
    nxt = page.get_json()["next_cursor"]
    assert len(page.get_json()["items"]) == 1 and nxt
    rest = client.get(f"/api/v1/tickets?patient_system=portal&patient_value=12345&limit=1&cursor={nxt}",
                      headers=bearer(secret)).get_json()
    assert len(rest["items"]) == 1 and rest["items"][0]["reference"] != page.get_json()["items"][0]["reference"]
    # an unknown identifier lists nothing; another system's same value is another identifier
    for query in ("patient_system=portal&patient_value=404", "patient_system=mrn&patient_value=12345"):
        got = client.get(f"/api/v1/tickets?{query}", headers=bearer(secret))
        assert got.status_code == 200 and got.get_json()["items"] == []
    # each lookup is an audited read (the value is not in the audit row)
    looked = _events("patient.found_by_identifier")
    assert [e.changes["found"] for e in looked] == [True, True, True, False, False]
    assert all(e.actor_id == integration.id and "12345" not in str(e.changes) for e in looked)


def test_the_identifier_filter_stays_within_what_the_token_may_see(client, portal, queues, other_patient):
    _integration, secret = portal
    assert client.post("/api/v1/tickets", json=NEW, headers=bearer(secret)).status_code == 201
    _t, other_secret = accounts.create_api_token(actor=None, name="other's", user=other_patient)
    got = client.get("/api/v1/tickets?patient_system=portal&patient_value=12345", headers=bearer(other_secret))
    assert got.status_code == 200 and got.get_json()["items"] == []


@pytest.mark.parametrize("query", ["patient_system=portal", "patient_value=12345",
                                   "patient_system=PORTAL&patient_value=1", "patient_system=portal&patient_value=a%20b"])
def test_bad_identifier_filters_are_422(client, portal, query):
    _integration, secret = portal
    resp = client.get(f"/api/v1/tickets?{query}", headers=bearer(secret))
    assert resp.status_code == 422 and error_of(resp)["code"] == "validation_error"


def test_a_merge_moves_the_identifiers_to_the_account_kept(client, portal, queues, admin, patient):
    _integration, secret = portal
    assert client.post("/api/v1/tickets", json=NEW, headers=bearer(secret)).status_code == 201
    duplicate = db.session.scalars(sa.select(PatientIdentifier)).one().user
    admin_patients.merge(actor=admin, duplicate=duplicate, survivor=patient)
    identifier = db.session.scalars(sa.select(PatientIdentifier)).one()
    assert identifier.user_id == patient.id
    # the portal's next request by the same identifier goes to the account kept
    assert client.post("/api/v1/tickets", json={**NEW, "subject": "After"}, headers=bearer(secret)).status_code == 201
    listed = client.get("/api/v1/tickets?patient_system=portal&patient_value=12345", headers=bearer(secret)).get_json()
    assert len(listed["items"]) == 2 and {t["requester"]["email"] for t in listed["items"]} == {patient.email}
    moved = _events("patient.merged_into")[0].changes["moved"]
    assert moved["patient_identifiers.user_id"] == 1


def test_admins_find_a_patient_by_external_id(client, portal, queues, admin, patient):
    _integration, secret = portal
    assert client.post("/api/v1/tickets", json=NEW, headers=bearer(secret)).status_code == 201
    login(client, admin)
    for q in ("12345", "portal:12345"):
        page = client.get(f"/admin/patients?q={q}").get_data(as_text=True)
        assert "rosa.diaz@example.net" in page and patient.email not in page, q
    assert "rosa.diaz@example.net" not in client.get("/admin/patients?q=mrn:12345").get_data(as_text=True)
    identifier = db.session.scalars(sa.select(PatientIdentifier)).one()
    account = client.get(f"/admin/patients/{identifier.user_id}").get_data(as_text=True)
    assert "portal:12345" in account


def test_the_openapi_document_describes_the_patient_identity(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/tickets"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "422"} <= set(post["responses"])
    patient = spec["components"]["schemas"]["PatientIdentityIn"]
    assert set(patient["required"]) == {"system", "value"} and patient["properties"]["system"]["pattern"]
    params = {p["name"] for p in spec["paths"]["/api/v1/tickets"]["get"]["parameters"]}
    assert {"patient_system", "patient_value"} <= params
    link = spec["paths"]["/api/v1/patient-links"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "413", "422", "429"} == set(link["responses"])


def test_a_request_racing_for_the_same_identifier_takes_the_first_ones_account(ctx, portal, patient, monkeypatch):
    """Two requests both found no identifier; the second one's insert hits the unique
    (system, value): it uses the account the first made, and makes no second one."""
    from helpdesk.auth import portal as identity
    from helpdesk.db import unit_of_work

    integration, _secret = portal
    db.session.add(PatientIdentifier(user_id=patient.id, system="portal", value="R1"))
    db.session.commit()
    real_find, calls = identity.find, []

    def find_as_before_the_other_commit(system, value):
        calls.append(system)
        return None if len(calls) == 1 else real_find(system, value)

    monkeypatch.setattr(identity, "find", find_as_before_the_other_commit)
    with unit_of_work():
        user, identifier = identity.resolve_patient(system="portal", value="R1", name="Late Comer",
                                                    email="late.comer@example.net", actor=integration)
    assert user.id == patient.id and identifier.user_id == patient.id and len(calls) == 2
    assert _patients() == 1 and count(PatientIdentifier) == 1


def test_a_request_with_files_is_created_by_identifier_too(client, portal, queues):
    import io

    from helpdesk.notify.models import Attachment
    from tests.notify.samples import png

    _user, secret = portal

    def send(**parts):
        return client.post("/api/v1/tickets/with-attachments", headers=bearer(secret),
                           content_type="multipart/form-data",
                           data={"subject": "Scan", "body": "My new insurance card",
                                 "attachments": [(io.BytesIO(png()), "card.png")], **parts})

    first = send(patient_system="portal", patient_value="F-77", requester_email="fay@example.net",
                 requester_name="Fay Ortiz")
    assert first.status_code == 201, first.get_json()
    again = send(patient_system="portal", patient_value="F-77")  # known now: no name or e-mail needed
    assert again.status_code == 201
    tickets = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
    assert len({t.requester_id for t in tickets}) == 1 and all(t.patient_identifier_id for t in tickets)
    assert count(Attachment) == 2
    n = count(Ticket)
    assert send(patient_system="portal").status_code == 422  # the value is missing
    assert send().status_code == 422  # neither an e-mail nor an identifier
    assert send(patient_system="portal", patient_value="F-78").status_code == 422  # unknown: name and e-mail needed
    assert count(Ticket) == n
