"""The patient pages, set up through the real services, for the browser checks
(accessibility and phone width): every page a patient or a signed-out visitor can
reach, including the states that matter (form errors, suggestions, an emergency)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.kb import services as kb
from helpdesk.kb.models import ArticleStatus
from helpdesk.notify import csat
from helpdesk.notify.attachments import Upload
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Status
from tests.factories import PASSWORD
from tests.notify.samples import pdf, png


@dataclass
class Site:
    base: str
    patient: User
    reference: str  # an answered request
    emergency_reference: str
    closed_reference: str
    article_slug: str
    category_slug: str
    resolved_reference: str  # resolved, files on its messages, the survey not answered
    survey_token: str  # the single-use link of another resolved request
    reset_path: str  # a valid password reset link (viewing it doesn't use it up)
    verify_path: str = ""  # the patient's e-mail confirmation link (already confirmed: it says so)


def build_site(base: str, patient: User, agent: User, supervisor: User) -> Site:
    articles = []
    for data in (
        {"title": "Reset your password", "summary": "Forgot your password? Reset it yourself in a few minutes.",
         "body_md": "## Steps\n\n1. Open the sign-in page.\n2. Select **Forgot password?**\n3. Follow the link we "
                    "e-mail you.\n", "category": "Signing in", "language": "en"},
        {"title": "Restablecer la contraseña", "summary": "¿Olvidó su contraseña? Restablézcala usted mismo.",
         "body_md": "## Pasos\n\n1. Abra la página de inicio de sesión.\n2. Seleccione **¿Olvidó su contraseña?**\n",
         "category": "Signing in", "language": "es"},
    ):
        article = kb.create_article(actor=supervisor, data={**data, "queues": ["account-access"], "audience": "public"})
        for step in (ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED):
            kb.change_status(article, actor=supervisor, status=step)
        articles.append(article)

    answered = tickets.create_ticket(requester=patient, subject="Charged twice for one visit",
                                     body="My statement shows the same charge two times.", channel=Channel.WEB,
                                     created_by=patient)
    tickets.post_message(answered, author=agent, body="Thanks. We removed the duplicate charge.", channel=Channel.WEB,
                         next_status=Status.PENDING_PATIENT)
    emergency = tickets.create_ticket(requester=patient, subject="Chest pain",
                                      body="I have chest pain and I can't breathe.", channel=Channel.WEB,
                                      created_by=patient)
    closed = tickets.create_ticket(requester=patient, subject="Parking question",
                                   body="Where do I park for my appointment?", channel=Channel.WEB, created_by=patient)
    tickets.update_ticket(closed, actor=patient, status=Status.CLOSED, source="patient")
    resolved = tickets.create_ticket(requester=patient, subject="Copy of my bill",
                                     body="Could you send me a copy of my last bill?", channel=Channel.WEB,
                                     created_by=patient)
    tickets.post_message(resolved, author=patient, body="A photo of the letter I received.", channel=Channel.WEB,
                         attachments=[Upload("letter.png", png())])
    tickets.post_message(resolved, author=agent, body="Here is the copy of your bill.", channel=Channel.WEB,
                         attachments=[Upload("bill-march.pdf", pdf())])
    tickets.update_ticket(resolved, actor=agent, status=Status.RESOLVED)
    surveyed = tickets.create_ticket(requester=patient, subject="Receipt for my bill",  # a billing queue's
                                     body="Please send me a receipt for the bill I paid.", channel=Channel.WEB,
                                     created_by=patient)
    tickets.update_ticket(surveyed, actor=agent, status=Status.RESOLVED)
    token = csat.open_survey(surveyed)  # a fresh link (the one mailed is not readable here)
    db.session.commit()
    from helpdesk.auth import activation

    return Site(base, patient, answered.reference, emergency.reference, closed.reference, articles[0].slug,
                "signing-in", resolved.reference, token, _reset_path(patient),
                "/account/verify-email/" + activation.make_token(patient))


def _reset_path(patient: User) -> str:
    import sqlalchemy as sa

    from helpdesk.auth import passwords
    from helpdesk.extensions import db
    from helpdesk.notify.models import OutgoingEmail

    passwords.request_reset(patient.email)
    mail = db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset")
                             .order_by(OutgoingEmail.id.desc()).limit(1))
    return re.search(r"(/password/reset/[A-Za-z0-9_-]+)", mail.body).group(1)


def sign_in(page, site: Site) -> None:
    page.goto(f"{site.base}/login")
    page.fill("#email", site.patient.email)
    page.fill("#password", PASSWORD)
    page.click("form[method=post] button.primary")
    page.wait_for_url(re.compile(r"/requests$"))


def _submit(page, selector: str = "main form[novalidate] button.primary") -> None:
    page.click(selector)
    page.wait_for_load_state()


@dataclass
class Step:
    name: str
    signed_in: bool
    visit: Callable  # (page, site) -> None


def _goto(path: str) -> Callable:
    return lambda page, site: page.goto(site.base + path.format(site=site))


def _then(first: Callable, then: Callable) -> Callable:
    def visit(page, site):
        first(page, site)
        then(page)

    return visit


def _search(page) -> None:
    page.fill("#q", "password")
    _submit(page, "form.kb-search button.primary")


def _help_step(page) -> None:
    page.fill("#subject", "forgot my password")
    page.fill("#body", "I can't sign in to the portal and need to reset my password.")
    page.evaluate("document.querySelector('#get-help-form [name=confirm]')?.remove()")  # the no-JavaScript step
    _submit(page)
    page.wait_for_selector("#kb-step")


def _help_typed(page) -> None:
    page.fill("#subject", "forgot my password")
    page.locator("#body").press_sequentially("I can't sign in", delay=10)
    page.wait_for_selector("#kb-live-list a", timeout=10_000)


def _answer_survey(page) -> None:
    page.check("#rating-0")
    page.fill("#csat-comment", "Quick and clear.")
    _submit(page)
    assert page.locator("#rating").count() == 0  # the thanks page, not the form again


def _link_used(page, site) -> None:
    assert page.goto(f"{site.base}/survey/{site.survey_token}").status == 410


def _files_and_survey(page, site) -> None:
    page.goto(f"{site.base}/requests/{site.resolved_reference}")
    assert page.locator("ul.attachments a").count() == 2 and page.locator("#rating").count() == 1


def _reply_with_a_wrong_file(page) -> None:
    page.fill("#body", "Here is the form you asked for.")
    page.set_input_files("#attachments", files=[{"name": "form.txt", "mimeType": "text/plain", "buffer": b"not a pdf"}])
    _submit(page, "main form[enctype] button.primary")
    page.wait_for_selector("#attachments-error")


def _survey_on_page_empty(page) -> None:
    _submit(page, "section.csat-box button.primary")
    page.wait_for_selector("#rating-error")
def _forgot_sent(page) -> None:
    page.fill("#email", "nobody@example.net")  # not the patient: their link stays valid
    _submit(page)


def _cant_sign_in_bad_date(page) -> None:
    page.fill("#name", "Rosa Díaz")
    page.fill("#date_of_birth", "31/02/1984")
    page.fill("#contact", "(555) 010-0177")
    page.fill("#details", "I lost my phone.")
    _submit(page)


def _cant_sign_in_sent(page) -> None:
    page.fill("#date_of_birth", "1984-03-14")
    _submit(page)


STEPS = [
    Step("sign-in", False, _goto("/login")),
    Step("sign-in-errors", False, _then(_goto("/login"), lambda p: _submit(p))),
    Step("register", False, _goto("/register")),
    Step("register-errors", False, _then(_goto("/register"), lambda p: _submit(p))),
    Step("help-centre", False, _goto("/help-centre")),
    Step("help-centre-search", False, _then(_goto("/help-centre"), _search)),
    Step("help-centre-topic", False, _goto("/help-centre/categories/{site.category_slug}")),
    Step("article", False, _goto("/help-centre/articles/{site.article_slug}")),
    Step("error-page", False, _goto("/no-such-page")),
    # the survey behind the mail's link: no sign-in; the last two steps use the link up
    Step("survey", False, _goto("/survey/{site.survey_token}")),
    Step("survey-errors", False, _then(_goto("/survey/{site.survey_token}"), lambda p: _submit(p))),
    Step("survey-thanks", False, _then(_goto("/survey/{site.survey_token}"), _answer_survey)),
    Step("survey-link-used", False, _link_used),
    Step("forgot-password", False, _goto("/password/forgot")),
    Step("forgot-password-errors", False, _then(_goto("/password/forgot"), lambda p: _submit(p))),
    Step("forgot-password-sent", False, _then(_goto("/password/forgot"), _forgot_sent)),
    Step("reset-password", False, _goto("{site.reset_path}")),
    Step("reset-password-errors", False, _then(_goto("{site.reset_path}"), lambda p: _submit(p))),
    Step("cant-sign-in", False, _goto("/cant-sign-in")),
    Step("cant-sign-in-errors", False, _then(_goto("/cant-sign-in"), _cant_sign_in_bad_date)),
    Step("cant-sign-in-received", False, _then(_then(_goto("/cant-sign-in"), _cant_sign_in_bad_date),
                                               _cant_sign_in_sent)),
    Step("verify-email-link", False, _goto("{site.verify_path}")),
    Step("reset-link-expired", False, _goto("/password/reset/expired-link-0000000000000000000000000000")),
    # the portal's one-use sign-in link, refused (expired, used or altered: one page)
    Step("portal-link-refused", False, _goto("/patient-link/no-such-link-0000000000000000000000000000")),
    Step("my-requests", True, _goto("/requests")),
    Step("request", True, _goto("/requests/{site.reference}")),
    Step("request-reply-errors", True, _then(_goto("/requests/{site.reference}"), lambda p: _submit(p))),
    Step("request-emergency", True, _goto("/requests/{site.emergency_reference}")),
    Step("request-closed", True, _goto("/requests/{site.closed_reference}")),
    Step("request-resolved-files-survey", True, _files_and_survey),
    Step("request-survey-errors", True, _then(_goto("/requests/{site.resolved_reference}"), _survey_on_page_empty)),
    Step("request-attachment-error", True, _then(_goto("/requests/{site.reference}"), _reply_with_a_wrong_file)),
    Step("notification-settings", True, _goto("/settings/notifications")),
    Step("get-help", True, _goto("/help")),
    Step("get-help-errors", True, _then(_goto("/help"), lambda p: _submit(p))),
    Step("get-help-typed-suggestions", True, _then(_goto("/help"), _help_typed)),
    Step("get-help-suggestion-step", True, _then(_goto("/help"), _help_step)),
    Step("article-signed-in", True, _goto("/help-centre/articles/{site.article_slug}")),
    Step("not-found-signed-in", True, _goto("/requests/HD-ZZZZZZ")),
    Step("account-security", True, _goto("/account/security")),
    Step("mfa-enrol", True, _goto("/account/mfa/enrol")),
    Step("mfa-enrol-errors", True, _then(_goto("/account/mfa/enrol"), lambda p: _submit(p))),
    Step("change-password", True, _goto("/account/password")),
    Step("change-password-errors", True, _then(_goto("/account/password"), lambda p: _submit(p))),
]
