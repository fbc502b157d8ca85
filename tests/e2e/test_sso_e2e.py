"""Staff single sign-on in a real browser: "Sign in with Riverside ID" on the sign-in
page, through the test OpenID Connect provider (a real one, over HTTP: Authlib's server
side, tests/oidc_provider.py), to the agent workspace; then sign-out here and at the
provider. A refused sign-in (a group the help desk doesn't know) shows why and is audited."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from tests.e2e.test_patient_accessibility import blocking_violations

pytestmark = pytest.mark.e2e


@pytest.fixture
def sso_live(live_server, sso_on, configure):
    """The live server is the help desk's EXTERNAL_URL, registered at the provider."""
    configure(external_url=live_server)
    callback = f"{live_server}/login/sso/callback"
    sso_on.client.redirect_uris.append(callback)
    yield live_server
    sso_on.client.redirect_uris.remove(callback)


def test_sign_in_with_the_provider_to_the_agent_workspace_and_out(browser, sso_live, sso_on, ctx, queues):
    sso_on.user["groups"] = ["hd-agents", "hd-billing"]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{sso_live}/login")
    page.get_by_role("link", name="Sign in with Riverside ID").click()
    page.wait_for_url(re.compile(r"/agent/$"))
    assert page.get_by_role("heading", name="My queues").is_visible()
    assert page.get_by_text("Dana Reyes").first.is_visible()
    assert "Billing" in page.locator("main").inner_text()  # the queue the group gave
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.email == "dana.reyes@riverside.example"))
    assert user is not None and user.role == Role.AGENT

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))  # back from the provider's sign-out
    assert page.get_by_text("You have signed out.").is_visible()
    assert sso_on.logouts == [{"client_id": "riverside-helpdesk", "post_logout_redirect_uri": f"{sso_live}/login"}]
    page.goto(f"{sso_live}/agent/")
    assert "/login" in page.url  # the session really ended on the server
    context.close()


def test_an_unknown_group_is_refused_in_the_browser(browser, sso_live, sso_on, ctx, queues):
    sso_on.user["groups"] = ["Radiology"]
    axe = Axe()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{sso_live}/login")
    assert blocking_violations(page, axe) == []  # the sign-in page with its button
    page.get_by_role("link", name="Sign in with Riverside ID").click()
    page.wait_for_url(re.compile(r"/login/sso/callback"))
    assert page.get_by_role("heading", name="You are not signed in").is_visible()
    assert page.get_by_role("alert").inner_text().startswith("Your account is not in a group")
    assert blocking_violations(page, axe) == []
    db.session.expire_all()
    reasons = [e.changes["reason"] for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "auth.sso_refused"))]
    assert reasons == ["unknown_group"]
    assert db.session.scalar(sa.select(User).where(User.email == "dana.reyes@riverside.example")) is None
    context.close()
