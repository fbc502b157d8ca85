"""Nothing a patient writes reaches the logs — not on success, not on errors."""

from __future__ import annotations

import logging

import pytest

from helpdesk.logging_setup import RedactingFilter, redact
from tests.factories import bearer, login, run_jobs

SECRET_SUBJECT = "Zyxwv diagnosis HIV result"
SECRET_BODY = "My MRN is 55501234, born 04/12/1961, email maria.secret@example.net, call 617-555-0199"


def test_submitting_and_routing_log_no_patient_text(client, ctx, caplog, patient, portal):
    caplog.set_level(logging.DEBUG)
    login(client, patient)
    client.post("/help", data={"subject": SECRET_SUBJECT, "body": SECRET_BODY})
    _user, secret = portal
    client.post("/api/v1/tickets", headers=bearer(secret), json={
        "subject": SECRET_SUBJECT, "body": SECRET_BODY, "requester": {"email": "x@example.net", "name": "X Y"}})
    client.post("/api/v1/tickets", headers=bearer(secret), json={"subject": SECRET_SUBJECT, "body": 5})
    run_jobs()
    logged = caplog.text
    for fragment in ("Zyxwv", "55501234", "maria.secret", "617-555-0199", "04/12/1961"):
        assert fragment not in logged


def test_an_unexpected_error_logs_its_type_not_its_message(configure, client, ctx, caplog, patient, monkeypatch):
    import helpdesk.tickets.services as services

    def explode(**_kwargs):
        raise RuntimeError(f"failed for {SECRET_BODY}")

    monkeypatch.setattr(services, "create_ticket", explode)
    with configure(PROPAGATE_TEST_ERRORS=False):
        caplog.set_level(logging.DEBUG)
        login(client, patient)
        resp = client.post("/help", data={"subject": SECRET_SUBJECT, "body": SECRET_BODY})
    assert resp.status_code == 500 and b"Something went wrong on our side" in resp.data
    assert "RuntimeError" in caplog.text and "55501234" not in caplog.text and "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("raw", "leak"),
    [("mail maria@example.net now", "maria@example.net"), ("call +1 (617) 555-0199", "555-0199"),
     ("born 1961-04-12", "1961-04-12"), ("mrn 55501234", "55501234")],
)
def test_the_log_filter_redacts_personal_data_as_a_second_line_of_defence(raw, leak):
    assert leak not in redact(raw)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value: %s", (raw,), None)
    RedactingFilter().filter(record)
    assert leak not in record.getMessage()


# ---------------------------------------------------------------- errors full of PHI

PHI = {
    "email": "rosa.private@example.net",
    "phone": "(617) 555-0142",
    "dob": "1958-07-23",
    "dob_us": "07/23/1958",
    "mrn": "MRN 88812345",
}
PHI_FRAGMENTS = ("rosa.private", "555-0142", "1958-07-23", "07/23/1958", "88812345")
PHI_TEXT = " ".join(PHI.values())


def _real_handler_output(app, run) -> str:
    """Run ``run`` with a handler formatted as configure_logging does, and return its text."""
    import io

    from helpdesk.logging_setup import RedactingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        run()
    finally:
        root.removeHandler(handler)
    return stream.getvalue()


def _explode_with_phi(*_args, **kwargs):
    raise ValueError(f"could not handle {kwargs.get('body') or PHI_TEXT}")


@pytest.mark.parametrize("where", ["form", "url", "json"])
def test_an_exception_in_a_request_full_of_phi_logs_none_of_it(app, configure, client, ctx, caplog, patient, portal,
                                                                monkeypatch, where):
    import helpdesk.tickets.services as services

    monkeypatch.setattr(services, "create_ticket", _explode_with_phi)
    monkeypatch.setattr(services, "create_ticket_for_requester", _explode_with_phi)
    caplog.set_level(logging.DEBUG)
    responses = []

    def run() -> None:
        if where == "form":
            login(client, patient)
            responses.append(client.post("/help", data={"subject": f"Help {PHI['email']}", "body": PHI_TEXT}))
        elif where == "url":
            login(client, patient)
            responses.append(client.post("/help", query_string=PHI, data={"subject": "Help", "body": PHI_TEXT}))
        else:
            _user, secret = portal
            responses.append(client.post("/api/v1/tickets", headers=bearer(secret), query_string=PHI, json={
                "subject": f"Help {PHI['phone']}", "body": PHI_TEXT,
                "requester": {"email": PHI["email"], "name": "Rosa Private"}}))

    with configure(PROPAGATE_TEST_ERRORS=False):
        handler_text = _real_handler_output(app, run)
    (resp,) = responses
    assert resp.status_code == 500
    page = resp.get_data(as_text=True)
    # the log keeps what an operator needs: the route, the exception type and the frames
    for text in (caplog.text, handler_text):
        assert "unhandled ValueError on POST" in text and "Traceback (most recent call last)" in text
        assert "_explode_with_phi" in text and "[message withheld]" in text
        for fragment in PHI_FRAGMENTS:
            assert fragment not in text, fragment
    for record in caplog.records:
        assert record.exc_info is None  # nothing left for another handler to format with the message
    for fragment in PHI_FRAGMENTS:
        assert fragment not in page
    assert "Traceback" not in page and "ValueError" not in page


def test_chained_exceptions_and_stack_info_are_redacted_too(caplog):
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("helpdesk.test")
    try:
        try:
            raise KeyError(PHI["email"])
        except KeyError as exc:
            raise RuntimeError(f"lookup failed for {PHI['mrn']}") from exc
    except RuntimeError:
        log.exception("lookup for %s failed", PHI["phone"], stack_info=True)
    text = caplog.text
    assert "KeyError" in text and "RuntimeError" in text and "direct cause" not in text
    for fragment in PHI_FRAGMENTS:
        assert fragment not in text


def test_production_error_pages_show_no_traceback(make_app, caplog):
    prod = make_app(env="production", secret_key="s" * 32, external_url="https://helpdesk.example.org",
                    helpdesk_phone="+1 212 555 0199", jobs_inline=True)
    assert not prod.debug and not prod.testing

    @prod.get("/explode")
    def explode():
        raise RuntimeError(f"failed for {PHI_TEXT}")

    caplog.set_level(logging.DEBUG)
    resp = prod.test_client().get("/explode", query_string=PHI, base_url="https://localhost")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 500 and "Something went wrong on our side" in page
    assert "Traceback" not in page and "RuntimeError" not in page and 'File "' not in page
    for fragment in PHI_FRAGMENTS:
        assert fragment not in page and fragment not in caplog.text
    assert "unhandled RuntimeError on GET /explode" in caplog.text
    api = prod.test_client().get("/api/v1/nope", base_url="https://localhost")
    assert api.status_code == 404 and api.is_json


def test_a_failed_statement_logs_its_constraint_not_the_values(ctx, caplog, patient):
    """PostgreSQL names the constraint a write broke (schema names only): operators can
    tell which one without the row, whose values stay out of the log."""
    import sqlalchemy as sa

    from helpdesk.auth.models import User
    from helpdesk.extensions import db

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLSTATE and constraint names come from PostgreSQL")
    caplog.set_level(logging.DEBUG)
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.insert(User.__table__).values(
                email=patient.email, display_name="Maria Secret", role="patient", active=True, language="en",
                session_token="b" * 32, available=True, kb_editor=False, created_at=patient.created_at))
    except sa.exc.IntegrityError:
        logging.getLogger("helpdesk.test").exception("the insert failed")
    text = caplog.text
    assert "IntegrityError: [message withheld] (sqlstate 23505, constraint uq_users_email" in text
    assert patient.email not in text and "Maria Secret" not in text
