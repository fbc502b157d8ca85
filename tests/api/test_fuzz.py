"""Property-based fuzzing of the JSON API with schemathesis, against the app's own
OpenAPI document (/api/v1/openapi.json), in process over WSGI, with real bearer tokens.

For every operation in the document, Hypothesis (fixed seed, bounded examples) draws
requests that fit the schema (positive) and requests that break it (negative), sends
each with the token of the portal integration, a patient or an agent (or none), and
checks the answer:

* ``not_a_server_error`` — never a 5xx;
* ``status_code_conformance`` — the status code is one the operation documents;
* ``content_type_conformance`` and ``response_schema_conformance`` — the body is what the
  document says for that status (errors included: ``{"error": {"code", "message"}}``).

Path parameters (and a body's ``queue``) are half the time replaced by a reference, file
id or queue that exists, so the fuzzer reaches the services behind the 404 and 422. Every request is counted; the test
asserts at least ``MIN_REQUESTS`` were made and prints the counts per operation
(``make test PYTEST_ARGS="-s tests/api/test_fuzz.py"``).
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from flask import g
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from helpdesk.auth import services as accounts
from helpdesk.extensions import db
from helpdesk.notify import attachments as files
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel
from tests.notify.samples import pdf, png

FUZZ_SEED = 20261204
EXAMPLES_PER_MODE = 70  # per operation, for positive and for negative data
MIN_REQUESTS = 1000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
# The raw mail is bytes on the wire, like application/octet-stream.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")
INBOUND_TOKEN = "inbound-" + "t" * 24  # noqa: S105 (a test value)


@pytest.fixture
def world(app, ctx, queues, patient, other_patient, agent, admin, portal):
    """Real accounts with real tokens, and a few requests and files for them to reach."""
    portal_user, portal_secret = portal
    _t, patient_secret = accounts.create_api_token(actor=None, name="patient app", user=patient)
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
    _t, reader_secret = accounts.create_api_token(actor=None, name="agent reader", user=agent, scopes=["read"])
    _t, admin_secret = accounts.create_api_token(actor=None, name="admin cli", user=admin)  # reaches the roster
    via_portal = tickets.create_ticket(requester=patient, subject="Question about my bill", channel=Channel.API,
                                       body="I was charged twice for my visit on the statement.",
                                       created_by=portal_user)
    on_web = tickets.create_ticket(requester=patient, subject="Cannot sign in",
                                   body="The portal says my password is wrong.", channel=Channel.WEB,
                                   created_by=patient)
    others = tickets.create_ticket(requester=other_patient, subject="Appointment", body="Please move my visit.",
                                   channel=Channel.WEB, created_by=other_patient)
    attachment_ids = []
    for ticket, data in ((via_portal, png()), (on_web, pdf())):
        posted = tickets.post_message(ticket, author=patient, body="a file", public=True,
                                      attachments=[files.Upload("scan.bin", data)])
        attachment_ids += [a.id for a in files.for_ticket(posted.ticket, include_internal=False)[posted.message.id]]
    return {
        "tokens": {"portal": portal_secret, "patient": patient_secret, "agent": agent_secret,
                   "reader": reader_secret, "admin": admin_secret, "anonymous": None},
        "references": [via_portal.reference, on_web.reference, others.reference],
        "attachment_ids": attachment_ids,
        "queues": sorted(queues),
    }


@pytest.fixture
def fuzz_app(app, configure):
    """The test app with inbound mail over HTTP switched on, and unexpected exceptions
    answered as the 500 a client would get (so not_a_server_error sees them)."""
    # a rate limit the fuzzer does not reach (tests/api/test_api_contract.py checks the 429)
    configure(inbound_token=INBOUND_TOKEN, api_rate_limit="100000 per minute", PROPAGATE_TEST_ERRORS=False)
    return app


def fuzz(operation, mode, world, counts: Counter[str], statuses: dict[str, Counter[int]]) -> None:
    """Run Hypothesis over one operation in one generation mode; raises on a failed check."""
    inbound = operation.path == "/api/v1/inbound-mail"
    who = st.just("inbound") if inbound else st.sampled_from(sorted(world["tokens"]))
    strategy = st.tuples(operation.as_strategy(generation_mode=mode), who,
                         st.sampled_from([None, *world["references"]]),
                         st.sampled_from([None, *world["attachment_ids"]]),
                         st.sampled_from([None, *world["queues"]]))

    @seed(FUZZ_SEED)
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(drawn=strategy)
    def run(drawn):
        case, identity, reference, attachment_id, queue = drawn
        # Leave alone what a negative case broke on purpose: a bad path parameter, a removed token.
        broken = {location for location, info in case.meta.components.items() if info.mode.is_negative}
        if ParameterLocation.PATH not in broken:
            if reference is not None and "reference" in (case.path_parameters or {}):
                case.path_parameters["reference"] = reference
            if attachment_id is not None and "attachment_id" in (case.path_parameters or {}):
                case.path_parameters["attachment_id"] = attachment_id
        if queue is not None and ParameterLocation.BODY not in broken and isinstance(case.body, dict) \
                and "queue" in case.body:
            case.body["queue"] = queue  # a queue that exists (a valid body stays valid)
        secret = INBOUND_TOKEN if identity == "inbound" else world["tokens"][identity]
        if ParameterLocation.HEADER in broken and "Authorization" not in (case.headers or {}):
            secret = None
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        for key in ("_login_user", "_member_queue_ids", "api_user"):  # as IsolatedClient (tests/conftest.py):
            g.pop(key, None)  # the ctx fixture's app context is reused by each request; no per-request cache leaks
        response = case.call(headers=headers)
        counts[operation.label] += 1
        statuses.setdefault(operation.label, Counter())[response.status_code] += 1
        db.session.rollback()  # the test's own session must not keep a stale view of the rows
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_fuzz_every_api_operation(fuzz_app, world):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    counts: Counter[str] = Counter()
    statuses: dict[str, Counter[int]] = {}
    failures: list[str] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, world, counts, statuses)
            except (Exception, BaseExceptionGroup) as exc:  # collected: every failing operation is reported
                failures.append(f"{operation.label} [{mode.value}]: {exc}")

    total = sum(counts.values())
    print(f"\nschemathesis: {total} requests over {len(counts)} operations (seed {FUZZ_SEED})")
    for label, n in sorted(counts.items()):
        answers = ", ".join(f"{code}: {k}" for code, k in sorted(statuses[label].items()))
        print(f"  {n:5d}  {label:60}  ({answers})")
    assert not failures, "\n\n".join(failures)
    assert {op.label for op in operations} == set(counts) and len(counts) >= 8
    assert total >= MIN_REQUESTS
