"""Help articles name only buttons, links and pages this help desk really has.

A public article that says *select* **Forgot username?** sends a patient looking for a
button that does not exist. Every bold span (``**…**``) in a public article is one of:

* a **label of this help desk**: the visible text of a link, button, form label or page
  heading, collected from the real patient pages rendered with the test client (signed
  out, as an unconfirmed and as a confirmed patient), in the article's own language;
* a **message the product shows** (``PRODUCT_MESSAGES``), checked against the message
  catalogue of that language;
* a label of **other software** the article is about (``OTHER_SOFTWARE``): the
  hospital's patient portal (a separate system this help desk supports, whose screens are
  not in this repository), phones and browsers. Articles about signing in to this help
  desk may use none of them;
* **emphasis** that names no control (``EMPHASIS``: list lead-ins ending in ``:``, ``.``
  or ``,`` are recognised without a list).

Each list is checked for stale entries, so it only holds what the articles use.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from helpdesk.auth import activation
from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.kb.frontmatter import CONTENT_DIR, load_all
from helpdesk.notify.models import OutgoingEmail
from tests.factories import login

ROOT = Path(__file__).resolve().parents[2]
BOLD = re.compile(r"\*\*(.+?)\*\*")
LEAD_IN = re.compile(r"[:.,]$")
#: articles that describe this help desk's own account: no other software's labels
OWN_ACCOUNT_CATEGORY = "Signing in"

PRODUCT_MESSAGES = {
    "en": {"Too many attempts"},
    "es": set(),
}

EMPHASIS = {
    "en": {
        'Annual physical', 'appeal', 'Ask your pharmacist', 'before your care team has reviewed it or contacted you',
        'Call your insurer', "Check your plan's drug list", 'Close other apps', 'Command + Shift + Delete',
        'Ctrl + Shift + Delete', 'does not move existing prescriptions', 'exception', 'Existing patients',
        'Follow-up', 'free', 'Good Faith Estimate', 'hospital bill',
        'If there is still money left over, we refund it', 'interest-free', 'New patients', 'New problem',
        'no refills left', 'outside groups', 'peer-to-peer', 'professional bill', 'Proxy users',
        'Records of a person who has died', 'Reduce echo', 'refills remaining', 'Reset your password now',
        'Riverside Health', 'Specialty care', 'statement of disagreement', 'Tell your care team once',
        'three business days', 'Turn off VPN or data-saver settings', 'Update the app',
        "Update your phone's operating system", 'Urgent care', 'Wait',
        'We first apply it to any other balance you owe',
    },
    "es": {
        'Cierre otras aplicaciones', 'grupos externos', 'hospital', 'no tienen intereses',
        'profesional', 'Reinicie', 'resurtidos', 'Riverside Health', 'tres días hábiles', 'Use audífonos',
        'ya no le quedan resurtidos',
    },
}

#: Labels of the hospital's patient portal (a separate system: appointments, bills,
#: prescriptions, records, video visits), of its phone app, of phones and of browsers.
#: They can't be checked here; whoever edits an article about the portal confirms them there.
OTHER_SOFTWARE = {
    "en": {
        'Accept', 'Accepting new patients', 'Add a pharmacy', 'Add to plan', 'All time', 'Allow', 'Any provider',
        'Apply now', 'Begin visit', 'Block', 'Cached images and files', 'Camera', 'Cancel', 'Change pharmacy',
        'Clear cache', 'Clear data', 'Clear now', 'Confirm', 'Cookies', 'Create a new estimate',
        'Create a share code', 'Credit', 'Decline', 'Delete data', 'Directions', 'Dispute a charge', 'Download',
        'Download PDF', 'eCheck-in', 'Edit plan', 'Estimate', 'For myself', 'Forms request', 'Get estimate',
        'I will pay for myself', 'Imaging', 'Immunizations', 'Join waitlist', 'Lab', 'Languages spoken', 'Location',
        'Make preferred', 'Menu > Account settings > Communication preferences',
        'Menu > Account settings > Insurance', 'Menu > Account settings > Personal information',
        'Menu > Appointments > Request an appointment', 'Menu > Appointments > Schedule an appointment',
        'Menu > Appointments > Test video', 'Menu > Appointments > Visits', 'Menu > Billing > Billing summary',
        'Menu > Billing > Billing summary > Question about this bill',
        'Menu > Billing > Billing summary > Request itemized bill', 'Menu > Billing > Estimates',
        'Menu > Billing > Estimates > Request an estimate', 'Menu > Billing > Financial assistance',
        'Menu > Billing > Pay now', 'Menu > Billing > Payment plans', 'Menu > Find care > Find a doctor',
        'Menu > Find care > Locations', 'Menu > Messages', 'Menu > Messages > Ask a question about a test result',
        'Menu > Messages > Send a message', 'Menu > My record > Download my record',
        'Menu > My record > Download my record:', 'Menu > My record > Health summary:',
        'Menu > My record > Immunizations', 'Menu > My record > Request a correction',
        'Menu > My record > Request records', 'Menu > My record > Test results', 'Menu > My record > Test results:',
        'Menu > My record > Visit notes:', 'Menu > Prescriptions > Medications',
        'Menu > Prescriptions > Medications > Request refills', 'Menu > Prescriptions > Pharmacies', 'Menu > Sharing',
        'Menu > Sharing > Share with a provider', 'Microphone', 'Offers video visits', 'Open in maps', 'Pharmacies',
        'Pharmacy', 'Prescription question', 'Print', 'Provider gender', 'Question about this bill',
        'Question about this bill > Insurance issue', 'Refund request', 'Remove', 'Remove All',
        'Request a new prescription', 'Request refills', 'Reschedule', 'Restart',
        'Safari > Settings > Privacy > Manage Website Data', 'Schedule', 'Send',
        'Send to another provider or organization', 'Set up a payment plan', 'Settings',
        'Settings > Apps > Riverside Health > Force stop', 'Settings > Apps > Riverside Health > Permissions',
        'Settings > Apps > Riverside Health > Storage', 'Settings > Apps > Safari',
        'Settings > Privacy & security > Camera',
        'Settings > Privacy & Security > Cookies and Site Data > Clear Data',
        'Settings > Privacy and security > Delete browsing data',
        'Settings > Privacy, search, and services > Clear browsing data > Choose what to clear',
        'Settings > Safari > Clear History and Website Data', 'Submit',
        'System Settings > Privacy & Security > Camera', 'View details', 'View statement',
    },
    "es": {
        'Agregar al plan', 'Ajustes > Aplicaciones > Riverside Health > Permisos', 'Bloquear', 'Cambiar cita',
        'Cambiar farmacia', 'Cancelar cita', 'Configuración', 'Confirmar', 'Crear un plan de pagos', 'Cámara',
        'Editar plan', 'Enviar', 'Enviar a otro proveedor', 'Iniciar visita', 'Menú > Citas > Probar video',
        'Menú > Citas > Visitas', 'Menú > Compartir > Compartir con un proveedor', 'Menú > Facturación > Pagar ahora',
        'Menú > Facturación > Planes de pago', 'Menú > Facturación > Resumen de facturación',
        'Menú > Facturación > Resumen de facturación > Pregunta sobre esta factura', 'Menú > Mensajes',
        'Menú > Mensajes > Enviar un mensaje', 'Menú > Mi expediente > Descargar mi expediente:',
        'Menú > Mi expediente > Notas de visitas:', 'Menú > Mi expediente > Resultados:',
        'Menú > Mi expediente > Resumen de salud:', 'Menú > Mi expediente > Solicitar expediente',
        'Menú > Recetas > Medicamentos', 'Micrófono', 'Para mí', 'Pedir renovación', 'Permitir',
        'Pregunta sobre esta factura', 'Ver detalles', 'Ver estado de cuenta',
    },
}


class _Labels(HTMLParser):
    """Visible text of links, buttons, labels, headings and the page title."""

    TAGS = {"a", "button", "label", "h1", "h2", "h3", "legend", "summary", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[list[str]] = []
        self.found: set[str] = set()

    def handle_starttag(self, tag, attrs):
        if tag in self.TAGS:
            self.stack.append([])
        if tag == "input" and dict(attrs).get("type") == "submit" and dict(attrs).get("value"):
            self.found.add(dict(attrs)["value"].strip())

    def handle_endtag(self, tag):
        if tag in self.TAGS and self.stack:
            text = " ".join("".join(self.stack.pop()).split())
            if text:
                self.found.add(text.split(" · ")[0])  # "<title>Sign in · Riverside Health"
                if self.stack:
                    self.stack[-1].append(text)

    def handle_data(self, data):
        if self.stack:
            self.stack[-1].append(data)


def labels_of(body: bytes) -> set[str]:
    parser = _Labels()
    parser.feed(body.decode("utf-8"))
    return parser.found


SIGNED_OUT = ("/login", "/register", "/password/forgot", "/cant-sign-in", "/help-centre",
              "/password/reset/not-a-real-link-0000000000")
PATIENT = ("/requests", "/help", "/settings/notifications", "/account/security", "/account/password", "/account/mfa/enrol", "/help-centre")


def _reset_link(client, user) -> str:
    """The page a real reset link opens (the link as mailed)."""
    client.post("/password/forgot", data={"email": user.email})
    mail = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset")
                              .order_by(OutgoingEmail.id.desc())).first()
    return re.search(r"(/password/reset/[A-Za-z0-9_-]+)", mail.body).group(1)


def _get(client, path: str, headers: dict) -> set[str]:
    resp = client.get(path, headers=headers)
    assert resp.status_code in (200, 410), (path, resp.status_code)
    return labels_of(resp.data)


@pytest.fixture
def ui_labels(configure, client, ctx, queues, make_user) -> dict[str, set[str]]:
    """What a patient can see and press on this help desk, per language."""
    out: dict[str, set[str]] = {}
    for lang, headers in (("en", {}), ("es", {"Accept-Language": "es"})):
        found: set[str] = set()
        client.post("/logout")
        with client.session_transaction() as s:
            s.clear()
        for path in SIGNED_OUT:
            found |= _get(client, path, headers)
        found |= _get(client, _reset_link(client, make_user(Role.PATIENT, email=f"reset-{lang}@example.net")), headers)
        # an unconfirmed patient (as after registering), with a mail server so the page offers a new link
        waiting = make_user(Role.PATIENT, email=f"new-{lang}@example.net")
        waiting.email_verified_at = None
        waiting.language = lang
        db.session.commit()
        found |= _get(client, f"/account/verify-email/{activation.make_token(waiting)}", headers)
        login(client, waiting)
        with configure(smtp_host="127.0.0.1"):
            found |= _get(client, "/account/verify-email", headers)
        patient = make_user(Role.PATIENT, email=f"p-{lang}@example.net")
        patient.language = lang
        db.session.commit()
        login(client, patient)
        for path in PATIENT:
            found |= _get(client, path, headers)
        out[lang] = found
    return out


def catalogue(lang: str) -> list[str]:
    """The texts the product can show in ``lang`` (English msgids, or Spanish msgstrs)."""
    with (ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        cat = read_po(f)
    return [m.id if lang == "en" else m.string for m in cat if m.id and isinstance(m.id, str)]


def problems(article, labels: dict[str, set[str]], messages: dict[str, list[str]], used: set) -> list[str]:
    lang, out = article.language, []
    for bold in BOLD.findall(article.body_md):
        bold = bold.strip()
        if bold in labels[lang]:
            continue
        if bold in PRODUCT_MESSAGES[lang]:
            used.add(("message", lang, bold))
            if not any(m.startswith(bold) for m in messages[lang]):
                out.append(f"{bold!r}: not a message of the product")
            continue
        if bold in EMPHASIS[lang]:
            used.add(("emphasis", lang, bold))
            continue
        if bold in OTHER_SOFTWARE[lang]:
            used.add(("other", lang, bold))
            if article.category == OWN_ACCOUNT_CATEGORY:
                out.append(f"{bold!r}: not a label of this help desk (an article about its own accounts)")
            continue
        if ">" not in bold and LEAD_IN.search(bold):
            continue  # "**Phone:**", "**Restart your phone.**": a list lead-in
        out.append(f"{bold!r}: no such button, link or page on this help desk ({lang})")
    return out


def test_public_articles_name_only_real_labels(ui_labels):
    messages = {lang: catalogue(lang) for lang in ("en", "es")}
    used: set = set()
    found = {}
    for article in load_all(CONTENT_DIR):
        if article.audience == "public" and (bad := problems(article, ui_labels, messages, used)):
            found[article.slug] = bad
    assert found == {}, found
    listed = ({("message", lang, b) for lang, s in PRODUCT_MESSAGES.items() for b in s}
              | {("emphasis", lang, b) for lang, s in EMPHASIS.items() for b in s}
              | {("other", lang, b) for lang, s in OTHER_SOFTWARE.items() for b in s})
    assert listed - used == set(), "no article uses these any more: remove them from the lists"


def test_the_pages_really_show_the_labels_the_articles_rely_on(ui_labels):
    en, es = ui_labels["en"], ui_labels["es"]
    for label in ("Sign in", "Forgot your password?", "Can't sign in? Ask the help desk", "Create an account",
                  "Create account", "Send me a link", "Get help", "My requests", "Notification settings",
                  "Account security", "Change password", "Send me a new link", "Confirm my e-mail address",
                  "Confirm your e-mail address", "Stay signed in", "Español"):
        assert label in en, label
    for label in ("Iniciar sesión", "¿Olvidó su contraseña?", "Pedir ayuda", "Mis solicitudes",
                  "¿No puede iniciar sesión? Pida ayuda a la mesa de ayuda", "Envíenme un enlace nuevo",
                  "Seguir conectado", "Crear una cuenta", "English"):
        assert label in es, label
    assert "Obtener ayuda" not in es and "Get help" not in es


@pytest.mark.parametrize(("lang", "body", "bad"), [
    ("en", "Select **Forgot username?** under the **Sign in** button.", ["Forgot username?"]),
    ("en", "On the sign-in page, select **Sign up now**, then **Sign up without a code**.",
     ["Sign up now", "Sign up without a code"]),
    ("en", "Go to **Menu > Account settings > Personal information**.", ["Menu > Account settings > Personal information"]),
    ("es", "Seleccione **Obtener ayuda** (**Get help**) en el menú.", ["Obtener ayuda", "Get help"]),
    ("es", "Pruebe **¿Olvidó su nombre de usuario?** en la página de inicio.", ["¿Olvidó su nombre de usuario?"]),
    ("en", "Select **Get help** at the top of the page, or **Forgot your password?** on the **Sign in** page.", []),
    ("es", "Seleccione **Pedir ayuda** o **¿No puede iniciar sesión? Pida ayuda a la mesa de ayuda**.", []),
    ("en", "- **Phone:** call us.", []),
])
def test_the_check_catches_invented_labels_and_passes_real_ones(ui_labels, lang, body, bad):
    from helpdesk.kb.frontmatter import ContentArticle as Item

    fields = Item.__dataclass_fields__
    item = Item(**{name: None for name in fields} | {"slug": "x", "title": "x", "body_md": body, "language": lang,
                                                      "category": OWN_ACCOUNT_CATEGORY, "audience": "public"})
    found = problems(item, ui_labels, {"en": catalogue("en"), "es": catalogue("es")}, set())
    assert [f.split("'")[1] for f in found] == bad
