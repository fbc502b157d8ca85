"""Saving a patient's language."""

from __future__ import annotations

from helpdesk import audit
from helpdesk.auth.models import User
from helpdesk.db import transactional
from helpdesk.errors import Forbidden, ValidationFailed
from helpdesk.i18n import LANGUAGES, N_, supported
from helpdesk.permissions import can_choose_language


@transactional
def set_language(*, user: User, language: object) -> User:
    """Save the language the patient pages are shown in for ``user`` (a patient)."""
    code = supported(language)
    if code is None:
        raise ValidationFailed(N_("Choose English or Spanish."),
                               fields={"language": [f"One of: {', '.join(LANGUAGES)}."]})
    if not can_choose_language(user):
        raise Forbidden("Only patients choose the language of their pages.")
    if user.language != code:
        audit.record("user.language_changed", "user", user.id, actor_id=user.id,
                     changes={"language": {"before": user.language, "after": code}})
        user.language = code
    return user
