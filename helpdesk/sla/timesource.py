"""The one clock of the SLA engine (jobs, sweep, badges, the dashboard roll-up); tests
replace ``clock``. Depends on nothing but timeutil, so every SLA module can import it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from helpdesk.timeutil import utcnow

clock: Callable[[], datetime] = utcnow
"""The one clock of the SLA engine (jobs, sweep, badges); tests replace it."""


def now() -> datetime:
    return clock()
