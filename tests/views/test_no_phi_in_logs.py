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


def test_an_unexpected_error_logs_its_type_not_its_message(app, client, ctx, caplog, patient, monkeypatch):
    import helpdesk.tickets.services as services

    def explode(**_kwargs):
        raise RuntimeError(f"failed for {SECRET_BODY}")

    monkeypatch.setattr(services, "create_ticket", explode)
    app.config["PROPAGATE_TEST_ERRORS"] = False
    try:
        caplog.set_level(logging.DEBUG)
        login(client, patient)
        resp = client.post("/help", data={"subject": SECRET_SUBJECT, "body": SECRET_BODY})
    finally:
        app.config["PROPAGATE_TEST_ERRORS"] = True
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
