"""Self-service on the Get-help form: the articles that may answer a patient's
question before a request is sent. Used by the JSON endpoint (as the patient types)
and by the no-JavaScript step in ``helpdesk.tickets.patient_views.get_help``.

The patient's text is only searched, in this process: it is never stored, logged or
put in a URL; a deflection keeps its length only.
"""

from __future__ import annotations

import logging

from helpdesk.kb.index import Result, suggest_for_patient
from helpdesk.routing.emergency import EMERGENCY_MESSAGE, detect_emergency

log = logging.getLogger(__name__)

MAX_SUGGESTIONS = 3
#: Fewer characters than this are not a question yet.
MIN_QUERY_CHARS = 8


def emergency_message(text: str) -> str | None:
    """A possible emergency gets the 911 message and no articles: self-service must
    never stand between a patient and urgent care."""
    return EMERGENCY_MESSAGE if detect_emergency(text) else None


def suggestions_for(text: str) -> list[Result]:
    if len(text.strip()) < MIN_QUERY_CHARS:
        return []
    try:
        return suggest_for_patient(text, limit=MAX_SUGGESTIONS)
    except Exception as exc:  # suggestions are a convenience: the request must still go through
        log.error("knowledge-base suggestions failed: %s", type(exc).__name__)
        return []


def suggestions_before_submit(subject: str, body: str) -> list[Result]:
    """What the no-JavaScript "these articles may answer your question" step shows
    (nothing when the text describes a possible emergency)."""
    text = f"{subject}\n{body}".strip()
    if emergency_message(text):
        return []
    return suggestions_for(text)
