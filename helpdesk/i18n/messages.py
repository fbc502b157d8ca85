"""English messages that services and permission checks raise (``DomainError``) and
that can reach a patient's page: the services stay in English (the JSON API answers
in English), and the patient pages translate them at the edge with
``helpdesk.i18n.translate``. Listed here so that the extraction puts them in the
catalogue; a message missing from this list is shown in English.

Keep this list in step with the messages of the patient-facing services.
"""

from __future__ import annotations

from helpdesk.i18n import N_

PATIENT_FACING_SERVICE_MESSAGES = (
    # helpdesk.permissions / tickets.services: another patient's request, a closed one
    N_("No request with that reference."),
    N_("You don't have access to this page."),
    N_("This request is closed; it can't be answered."),
    N_("This request is already closed."),
    N_("You can only close your request."),
    N_("Could not allocate a reference; please try again."),
    N_("Can't be empty."),
    N_("Must be text."),
    # helpdesk.auth.services: registration
    N_("An account with that email already exists."),
    N_("Already registered."),
    N_("Enter an email address."),
    N_("Enter a valid email address."),
    N_("Enter a name."),
    N_("That name is too long."),
    N_("At most 120 characters."),
    # (the password length messages carry their limits: helpdesk.auth.password_rules)
    N_("That password is too long."),
    # helpdesk.kb: the help centre
    N_("No article here."),
    N_("No such category."),
    N_("Choose Yes or No."),
    N_("The reason must be text."),
    N_("At most 500 characters."),
    # helpdesk.routing.emergency: the 911 message on Get help
    N_("If this is an emergency, call 911 or go to the nearest emergency department."),
    # helpdesk.i18n.services
    N_("Choose English or Spanish."),
)
