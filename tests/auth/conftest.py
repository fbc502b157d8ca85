"""View fixtures: the two ways this help desk handles outgoing mail."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from tests.mailserver import Recorder, free_port

MAIL_MODES = ("smtp", "stored")


@pytest.fixture(params=MAIL_MODES)
def mail_mode(request, configure):
    """``"smtp"``: a real SMTP server (aiosmtpd) is configured and receives the mails;
    ``"stored"``: no ``SMTP_HOST`` (the embedded default), mails are stored, not sent."""
    controller = None
    if request.param == "smtp":
        recorder = Recorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
        controller.start()
        configure(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_security="none", smtp_timeout=5.0)
    else:
        assert configure.settings.smtp_host is None
    yield request.param
    if controller is not None:
        controller.stop()
