"""A real SMTP server (aiosmtpd) in the test process, and the app pointed at it: the
``smtp_server`` and ``use_smtp`` fixtures (visible to every test via tests/conftest.py)."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


class Recorder:
    """An SMTP handler that keeps what it accepts; ``refuse`` mails get 451 first."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = 0
        self.refused = 0
        self.permanent = False
        self.refuse_to: set[str] = set()  # these recipients' mails get 550
        self.sessions: set[tuple] = set()  # the client ends (address, port) of the connections

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.sessions.add(tuple(session.peer))
        if self.permanent or set(envelope.rcpt_tos) & self.refuse_to:
            return "550 5.1.1 mailbox unavailable"
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 try again later"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    recorder.controller = controller
    yield recorder
    controller.stop()


@pytest.fixture
def use_smtp(configure):
    """Point the app at an SMTP server for one test (``use_smtp(port)``); restored after."""

    def use(port: int, **more) -> None:
        configure(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_timeout=5.0,
                  mail_from="Help Desk <helpdesk@hospital.example>", **more)

    return use
