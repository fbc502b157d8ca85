"""The shared macros agents need on day one, in English and Spanish.

Loaded by ``flask macros seed`` (a real deployment, after its queues exist) and by the
demo seed. Idempotent: a macro is created only when its queue has no shared macro with
the same title and language, so running it again — or after a supervisor edited the
text — changes nothing. Queues that don't exist are skipped.

The texts use only ``{{patient_first_name}}``, ``{{agent_name}}`` and policy values
(``{{ policy.… }}``, helpdesk.policy), so that what they say about the product is what
the product does when the macro is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.db import unit_of_work
from helpdesk.extensions import db
from helpdesk.tickets.models import Queue, Status
from helpdesk.tickets.workspace_models import Macro
from helpdesk.timeutil import utcnow

#: The queues every "we need more information" macro is shared with.
EVERY_QUEUE = ("account-access", "scheduling", "billing", "records", "prescriptions", "technical", "general", "triage")


@dataclass(frozen=True)
class MacroText:
    title: str
    body: str


@dataclass(frozen=True)
class DayOneMacro:
    key: str
    queues: tuple[str, ...]
    texts: dict[str, MacroText]  # language → text
    set_status: Status | None = Status.PENDING_PATIENT


SIGNATURE_EN = "\n\n{{agent_name}}\nRiverside Health Help Desk"
SIGNATURE_ES = "\n\n{{agent_name}}\nMesa de ayuda de Riverside Health"

DAY_ONE: tuple[DayOneMacro, ...] = (
    DayOneMacro("password-reset", ("account-access",), {
        "en": MacroText("Password reset: how to do it", (
            "Hello {{patient_first_name}},\n\n"
            "You can choose a new password yourself, at any time:\n\n"
            "1. On the Sign in page, choose \"Forgot your password?\".\n"
            "2. Enter the e-mail address of your account and choose \"Send me a link\".\n"
            "3. In the e-mail from Riverside Health, open the link. It works once, for "
            "{{ policy.reset_link_minutes }} minutes; if you ask for another one, only the newest link works.\n"
            "4. Choose a new password of at least {{ policy.password_min_length }} characters (a short sentence "
            "is easy to remember) and choose \"Save the new password\".\n\n"
            "Saving it signs you out on every device, and it also lifts a pause on signing in after too many "
            "attempts. If no e-mail arrives, check your spam folder and reply here: we can send you the link "
            "once we have confirmed your identity. We will never ask for your password." + SIGNATURE_EN)),
        "es": MacroText("Restablecer la contraseña: cómo hacerlo", (
            "Hola, {{patient_first_name}}:\n\n"
            "Puede elegir una contraseña nueva usted mismo, a cualquier hora:\n\n"
            "1. En la página Iniciar sesión, seleccione \"¿Olvidó su contraseña?\".\n"
            "2. Escriba el correo electrónico de su cuenta y seleccione \"Envíenme un enlace\".\n"
            "3. Abra el correo de Riverside Health y seleccione el enlace. Funciona una sola vez, durante "
            "{{ policy.reset_link_minutes }} minutos; si pide otro, solo funciona el más reciente.\n"
            "4. Elija una contraseña nueva de al menos {{ policy.password_min_length }} caracteres (una frase "
            "corta es fácil de recordar) y seleccione \"Guardar la nueva contraseña\".\n\n"
            "Al guardarla se cierra su sesión en todos sus dispositivos, y también se quita la pausa del inicio "
            "de sesión después de demasiados intentos. Si no le llega el correo, revise la carpeta de correo no "
            "deseado y responda a este mensaje: podemos enviarle el enlace después de confirmar su identidad. "
            "Nunca le pediremos su contraseña." + SIGNATURE_ES)),
    }),
    DayOneMacro("reschedule", ("scheduling",), {
        "en": MacroText("Reschedule an appointment", (
            "Hello {{patient_first_name}},\n\n"
            "Thank you for letting us know that you need a different time. Please reply with:\n\n"
            "- the date, time and clinic of your current appointment\n"
            "- two or three days and times that would suit you\n\n"
            "We will pass your request to the clinic's scheduling team and let you know here when a new time is "
            "confirmed. Your current appointment stays booked until then." + SIGNATURE_EN)),
        "es": MacroText("Cambiar una cita", (
            "Hola, {{patient_first_name}}:\n\n"
            "Gracias por avisarnos de que necesita otro horario. Por favor, responda con:\n\n"
            "- la fecha, la hora y la clínica de su cita actual\n"
            "- dos o tres días y horarios que le convengan\n\n"
            "Pasaremos su solicitud al equipo de citas de la clínica y le avisaremos aquí cuando se confirme el "
            "nuevo horario. Su cita actual sigue reservada hasta entonces." + SIGNATURE_ES)),
    }),
    DayOneMacro("billing-statement", ("billing",), {
        "en": MacroText("Billing statement request", (
            "Hello {{patient_first_name}},\n\n"
            "We can send you a copy of your billing statement. So that we send the right one, please reply with "
            "the date of the statement or the date of the visit it is about.\n\n"
            "For your privacy, we send statements only to the address on your account. If that address has "
            "changed, tell us and we will explain how to update it." + SIGNATURE_EN)),
        "es": MacroText("Solicitud de estado de cuenta", (
            "Hola, {{patient_first_name}}:\n\n"
            "Podemos enviarle una copia de su estado de cuenta. Para enviarle el correcto, responda con la fecha "
            "del estado de cuenta o la fecha de la visita a la que se refiere.\n\n"
            "Por su privacidad, enviamos los estados de cuenta solo a la dirección de su cuenta. Si esa dirección "
            "cambió, díganoslo y le explicaremos cómo actualizarla." + SIGNATURE_ES)),
    }),
    DayOneMacro("records-request", ("records",), {
        "en": MacroText("Medical records request", (
            "Hello {{patient_first_name}},\n\n"
            "We can help you request a copy of your medical records. Please reply with:\n\n"
            "- the visits or dates you need\n"
            "- the kind of records (for example visit notes, test results or imaging)\n"
            "- whether the copy is for you or should go to another doctor (their name and address)\n\n"
            "We will pass your request to Health Information Management, who prepare the copy, and let you know "
            "here when it has been sent." + SIGNATURE_EN)),
        "es": MacroText("Solicitud de expediente médico", (
            "Hola, {{patient_first_name}}:\n\n"
            "Podemos ayudarle a pedir una copia de su expediente médico. Por favor, responda con:\n\n"
            "- las visitas o fechas que necesita\n"
            "- el tipo de documentos (por ejemplo notas de la visita, resultados de análisis o imágenes)\n"
            "- si la copia es para usted o debe enviarse a otro médico (su nombre y dirección)\n\n"
            "Pasaremos su solicitud al departamento de expedientes médicos, que prepara la copia, y le avisaremos "
            "aquí cuando se haya enviado." + SIGNATURE_ES)),
    }),
    DayOneMacro("need-more-information", EVERY_QUEUE, {
        "en": MacroText("We need more information", (
            "Hello {{patient_first_name}},\n\n"
            "Thank you for your message. To help you, we need a little more information. Please reply and tell "
            "us what you were trying to do, what happened instead (the exact words of any error message help), "
            "and when it happened.\n\n"
            "You can attach a screenshot or a photo: {{ policy.attachment_types }} files, up to "
            "{{ policy.attachment_max_mb }} MB each. Please don't send passwords or codes." + SIGNATURE_EN)),
        "es": MacroText("Necesitamos más información", (
            "Hola, {{patient_first_name}}:\n\n"
            "Gracias por su mensaje. Para ayudarle, necesitamos un poco más de información. Por favor, responda "
            "y cuéntenos qué intentaba hacer, qué pasó en su lugar (las palabras exactas de cualquier mensaje de "
            "error ayudan) y cuándo ocurrió.\n\n"
            "Puede adjuntar una captura de pantalla o una foto: archivos {{ policy.attachment_types }}, de hasta "
            "{{ policy.attachment_max_mb }} MB cada uno. Por favor, no envíe contraseñas ni códigos." + SIGNATURE_ES)),
    }),
)


def seed_macros(echo: Callable[[str], None] | None = None) -> int:
    """Create the day-one shared macros that don't exist yet; returns how many were created."""
    with unit_of_work():
        queues = {q.slug: q for q in db.session.scalars(sa.select(Queue))}
        existing = {
            (queue_id, title.lower(), language)
            for queue_id, title, language in db.session.execute(
                sa.select(Macro.queue_id, Macro.title, Macro.language).where(Macro.queue_id.is_not(None)))
        }
        created = 0
        now = utcnow()
        for item in DAY_ONE:
            for slug in item.queues:
                queue = queues.get(slug)
                if queue is None:
                    continue
                for language, text in item.texts.items():
                    if (queue.id, text.title.lower(), language) in existing:
                        continue
                    macro = Macro(title=text.title, body=text.body, language=language, queue_id=queue.id,
                                  set_status=item.set_status, created_at=now, updated_at=now)
                    db.session.add(macro)
                    db.session.flush()
                    audit.record("macro.created", "macro", macro.id, actor_id=None, changes={
                        "title": text.title, "language": language, "scope": "shared", "queue_id": queue.id,
                        "seeded": item.key})
                    existing.add((queue.id, text.title.lower(), language))
                    created += 1
    if echo:
        echo(f"Macros: {created} shared macro(s) created.")
    return created
