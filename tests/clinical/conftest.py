"""Clinical fixtures: clinicians of the clinical-escalation queue on the roster."""

from __future__ import annotations

import pytest

from helpdesk.auth.models import Role
from helpdesk.clinical import services as clinical
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel
from tests.factories import run_jobs

EMERGENCY_SUBJECT = "Help please"
EMERGENCY_BODY = "my father has chest pain and can't breathe"


@pytest.fixture
def make_clinician(make_user):
    def make(name: str, mode: str = "on", on_roster: bool = True):
        user = make_user(Role.AGENT, member_of=("clinical-escalation",), name=name)
        if on_roster:
            clinical.add_to_roster(actor=None, user=user, mode=mode)
        return user

    return make


@pytest.fixture
def emergency(patient):
    def make(requester=None, body: str = EMERGENCY_BODY):
        t = tickets.create_ticket(requester=requester or patient, subject=EMERGENCY_SUBJECT, body=body,
                                  channel=Channel.WEB, created_by=requester or patient)
        run_jobs()
        return t

    return make
