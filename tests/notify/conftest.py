"""Notify fixtures: a movable clock for retries and expiries, and service modules that
also run the jobs they enqueued. The real SMTP server (``smtp_server``, ``use_smtp``) is
in tests/mailserver.py, for every area that sends mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def mail_clock(monkeypatch):
    """The clock the mail code reads (retries, expiries)."""

    class Clock:
        now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

        def __call__(self) -> datetime:
            return self.now

        def advance(self, **kw) -> None:
            self.now += timedelta(**kw)

    c = Clock()
    import helpdesk.notify.mail as mail_mod

    monkeypatch.setattr(mail_mod, "utcnow", c)
    return c


class Settled:
    """A service module whose functions also run the jobs they enqueued (a burst of a real
    RQ worker with Redis; nothing to do inline), so tests read the same in both modes."""

    def __init__(self, module) -> None:
        self._module = module

    def __getattr__(self, name: str):
        attr = getattr(self._module, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def call(*args, **kwargs):
            from tests.factories import run_jobs

            out = attr(*args, **kwargs)
            run_jobs()
            return out

        return call
