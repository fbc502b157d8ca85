"""The permission matrix: every route of the app, every role, one expected status each.

``MATRIX`` has ONE line per endpoint: the request to make (a path template filled
with real objects from the ``world`` fixture) and the expected status for each role,
in the order of ``ROLES``:

    anon      signed out (pages redirect to sign-in: 302; the API answers 401)
    owner     the patient who asked for the ticket
    other     another patient
    agent     an agent of the ticket's queue (billing)
    outsider  an agent of another queue (general)
    sup       a supervisor of the ticket's queue
    admin     an admin (a member of no queue)
    token     the portal's integration token, which created the ticket (API rows only)

Under /api/ every role calls with a bearer token issued to its own account (the API
reads no session cookie); elsewhere everyone signs in with a session and ``token`` is
``None`` (not requested). GET is requested for GET routes; POST-only routes are
POSTed with the row's ``data`` (empty unless given). The roles run in the order
above against one fresh world per endpoint, so a row's later roles see the effect of
earlier ones (e.g. an admin deactivating an account comes last).

A route without a line fails ``test_every_route_has_an_entry``: add one when you add
a route. Placeholders: see ``World.params``.

Public routes (the sign-in pages, health checks, the help centre, single sign-on's start
and callback) are in the table like any other: every role gets the same answer, or the
signed-in are sent home (302). They have no object to hide, so no column is 404 because
of who asks. A route that is off unless configured (inbound mail, single sign-on) answers
404 to everyone here, with the suite's settings; ``SSO_MATRIX`` checks the single sign-on
routes again with single sign-on configured against the test provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from helpdesk.auth import services as accounts
from helpdesk.auth.models import ApiToken, Role
from helpdesk.auth.portal_models import PatientIdentifier
from helpdesk.clinical.models import ClinicalAlert
from helpdesk.extensions import db
from helpdesk.retention import services as retention
from helpdesk.sla import calendars as sla_calendars
from helpdesk.sla import policy_admin as sla_policy_admin
from tests.factories import bearer, login

ROLES = ("anon", "owner", "other", "agent", "outsider", "sup", "admin", "token")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, int | None]
    data: dict[str, Any] = field(default_factory=dict)
    json: Any = None


def T(request: str, anon: int, owner: int, other: int, agent: int, outsider: int, sup: int, admin: int,  # noqa: N802
      token: int | None = None, *, data: dict[str, Any] | None = None, json: Any = None) -> Row:
    method, path = request.split(" ", 1)
    codes = (anon, owner, other, agent, outsider, sup, admin, token)
    return Row(method, path, dict(zip(ROLES, codes, strict=True)), data or {}, json)


# fmt: off
#   endpoint                            request                                               anon owner other agent outs  sup admin token
MATRIX: dict[str, Row] = {
    # core, sign-in, language
    "core.index":                       T("GET /",                                             302, 302, 302, 302, 302, 302, 302),
    "core.healthz":                     T("GET /healthz",                                      200, 200, 200, 200, 200, 200, 200),
    "core.livez":                       T("GET /livez",                                        200, 200, 200, 200, 200, 200, 200),
    "core.readyz":                      T("GET /readyz",                                       200, 200, 200, 200, 200, 200, 200),
    "core.favicon":                     T("GET /favicon.ico",                                  200, 200, 200, 200, 200, 200, 200),
    "core.manifest":                    T("GET /manifest.webmanifest",                         200, 200, 200, 200, 200, 200, 200),
    # the scraper's: open in tests (no METRICS_TOKEN); bearer-only with a token, 404 in production without one
    "metrics.metrics":                  T("GET /metrics",                                      200, 200, 200, 200, 200, 200, 200),
    "auth.login":                       T("GET /login",                                        200, 302, 302, 302, 302, 302, 302),
    "auth.logout":                      T("POST /logout",                                      302, 302, 302, 302, 302, 302, 302),
    "auth.register":                    T("GET /register",                                     200, 302, 302, 302, 302, 302, 302),
    "auth.mfa_verify":                  T("GET /login/mfa",                                    302, 302, 302, 302, 302, 302, 302),
    "auth.security":                    T("GET /account/security",                             302, 200, 200, 200, 200, 200, 200),
    "auth.mfa_enrol":                   T("GET /account/mfa/enrol",                            302, 200, 200, 302, 302, 302, 302),  # staff: already set up
    "auth.mfa_disable":                 T("POST /account/mfa/disable",                         302, 302, 302, 403, 403, 403, 403),
    "auth.set_timezone":                T("POST /account/time-zone",                           302, 302, 302, 302, 302, 302, 302, data={"timezone": "America/Chicago"}),  # one's own
    "auth.session_status":              T("GET /session/status",                               302, 200, 200, 200, 200, 200, 200),
    "auth.keep_alive":                  T("POST /session/keep-alive",                          302, 200, 200, 200, 200, 200, 200),
    "passwords.forgot":                 T("GET /password/forgot",                              200, 200, 200, 200, 200, 200, 200),
    "passwords.reset":                  T("GET /password/reset/{reset_secret}",                410, 410, 410, 410, 410, 410, 410),
    "passwords.change":                 T("GET /account/password",                             302, 200, 200, 200, 200, 200, 200),
    "lockedout.cant_sign_in":           T("GET /cant-sign-in",                                 200, 200, 200, 200, 200, 200, 200),
    "auth.verify_email_page":           T("GET /account/verify-email",                         302, 302, 302, 302, 302, 302, 302),  # confirmed already: home
    "auth.verify_email_resend":         T("POST /account/verify-email/resend",                 302, 302, 302, 302, 302, 302, 302),  # confirmed already: home
    "auth.verify_email_link":           T("GET /account/verify-email/{verify_token}",          410, 410, 410, 410, 410, 410, 410),
    "portal_link.open_link":            T("GET /patient-link/{link_token}",                    410, 410, 410, 410, 410, 410, 410),  # good links: tests/auth/test_patient_links.py
    # staff single sign-on: public, off (404) unless OIDC_ISSUER is set; see SSO_MATRIX for it on
    "sso.start":                        T("GET /login/sso",                                    404, 404, 404, 404, 404, 404, 404),
    "sso.callback":                     T("GET /login/sso/callback",                           404, 404, 404, 404, 404, 404, 404),
    "i18n.switch":                      T("POST /language",                                    302, 302, 302, 302, 302, 302, 302, data={"language": "es", "next": "/"}),
    # patient pages
    "patient.get_help":                 T("GET /help",                                         302, 200, 200, 403, 403, 403, 403),
    "patient.my_requests":              T("GET /requests",                                     302, 200, 200, 403, 403, 403, 403),
    "patient.request_page":             T("GET /requests/{ref}",                               302, 200, 404, 403, 403, 403, 403),
    "patient.reply":                    T("POST /requests/{ref}/reply",                        302, 422, 404, 403, 403, 403, 403),
    "patient.close":                    T("POST /requests/{ref}/close",                        302, 302, 404, 403, 403, 403, 403),
    "notify.survey_on_page":            T("POST /requests/{ref}/survey",                       302, 409, 404, 403, 403, 403, 403),  # 409: not resolved
    "notify.survey":                    T("GET /survey/{survey_token}",                        200, 200, 200, 200, 200, 200, 200),
    "notify.preferences":               T("GET /settings/notifications",                       302, 200, 200, 200, 200, 200, 200),
    "notify.notifications":             T("GET /notifications",                                302, 403, 403, 200, 200, 200, 200),
    "notify.notification_read":         T("POST /notifications/{notification_id}/read",        302, 403, 403, 302, 404, 404, 404),
    "notify.notifications_read":        T("POST /notifications/read",                          302, 403, 403, 302, 302, 302, 302),
    "notify.download":                  T("GET /attachments/{attachment_id}",                  302, 200, 404, 200, 404, 200, 404),
    # help centre and deflection (public)
    "kb.help_centre":                   T("GET /help-centre",                                  200, 200, 200, 200, 200, 200, 200),
    "kb.help_centre_category":          T("GET /help-centre/categories/{category}",            200, 200, 200, 200, 200, 200, 200),
    "kb.help_centre_search":            T("POST /help-centre/search",                          200, 200, 200, 200, 200, 200, 200, data={"q": "password"}),
    "kb.article":                       T("GET /help-centre/articles/{slug}",                  200, 200, 200, 200, 200, 200, 200),
    "kb.feedback":                      T("POST /help-centre/articles/{slug}/feedback",        422, 422, 422, 422, 422, 422, 422),
    "kb.suggest":                       T("POST /help/suggest",                                302, 400, 400, 403, 403, 403, 403),
    "kb.deflect":                       T("POST /help/deflect",                                302, 404, 404, 403, 403, 403, 403),
    # agent workspace
    "agent.dashboard":                  T("GET /agent/",                                       302, 403, 403, 200, 200, 200, 200),
    "agent.availability":               T("POST /agent/availability",                          302, 403, 403, 302, 302, 302, 302),
    "agent.ticket_list":                T("GET /agent/tickets",                                302, 403, 403, 200, 200, 200, 200),
    "agent.ticket_page":                T("GET /agent/tickets/{ref}",                          302, 403, 403, 200, 404, 200, 404),
    "agent.reply":                      T("POST /agent/tickets/{ref}/reply",                   302, 403, 403, 422, 404, 422, 404),
    "agent.update":                     T("POST /agent/tickets/{ref}/update",                  302, 403, 403, 302, 404, 302, 404),
    "agent.move":                       T("POST /agent/tickets/{ref}/move",                    302, 403, 403, 422, 404, 422, 404),
    "agent.assign":                     T("POST /agent/tickets/{ref}/assign",                  302, 403, 403, 302, 404, 302, 404),
    "agent.claim":                      T("POST /agent/tickets/{ref}/claim",                   302, 403, 403, 302, 404, 302, 404),
    "passwords.identity_check":         T("POST /agent/tickets/{ref}/identity-check",          302, 403, 403, 422, 404, 422, 404),
    "passwords.send_reset_link":        T("POST /agent/tickets/{ref}/reset-link",              302, 403, 403, 409, 404, 409, 404),
    "agent.correct_message":            T("POST /agent/tickets/{ref}/messages/{message_id}/correct", 302, 403, 403, 302, 404, 403, 404, data={"body": "We are looking into it today."}),
    "access.identifiers":               T("POST /agent/tickets/{ref}/identifiers",             302, 403, 403, 200, 404, 200, 404),
    "access.break_glass":               T("POST /agent/tickets/{ref}/break-glass",             302, 404, 404, 404, 404, 404, 404),
    "workspace.macro_list":             T("GET /agent/macros",                                 302, 403, 403, 200, 200, 200, 200),
    "workspace.macro_create":           T("POST /agent/macros",                                302, 403, 403, 422, 422, 422, 422),
    "workspace.macro_edit":             T("GET /agent/macros/{macro_id}",                      302, 403, 403, 403, 404, 200, 404),
    "workspace.macro_update":           T("POST /agent/macros/{macro_id}",                     302, 403, 403, 403, 404, 422, 404),
    "workspace.macro_delete":           T("POST /agent/macros/{macro_id}/delete",              302, 403, 403, 403, 404, 302, 404),
    "workspace.macro_apply":            T("POST /agent/tickets/{ref}/macro",                   302, 403, 403, 302, 404, 302, 404, data={"macro_id": "{macro_id}"}),
    "workspace.bulk_action":            T("POST /agent/bulk",                                  302, 403, 403, 422, 422, 422, 422),
    "workspace.merge_into":             T("POST /agent/tickets/{ref}/merge",                   302, 403, 403, 422, 404, 422, 404),
    "workspace.presence_beat":          T("POST /agent/tickets/{ref}/presence",                302, 403, 403, 200, 404, 200, 404, data={"state": "viewing"}),
    "workspace.view_save":              T("POST /agent/views",                                 302, 403, 403, 422, 422, 422, 422),
    "workspace.view_delete":            T("POST /agent/views/{view_id}/delete",                302, 403, 403, 302, 404, 404, 404),
    # knowledge base (staff)
    "kb.staff_list":                    T("GET /kb/",                                          302, 403, 403, 200, 200, 200, 200),
    "kb.staff_article":                 T("GET /kb/articles/{article_id}",                     302, 403, 403, 200, 200, 200, 200),
    "kb.version":                       T("GET /kb/articles/{article_id}/versions/1",          302, 403, 403, 200, 200, 200, 200),
    "kb.new_article":                   T("GET /kb/articles/new",                              302, 403, 403, 200, 200, 200, 200),
    "kb.edit_article":                  T("GET /kb/articles/{article_id}/edit",                302, 403, 403, 403, 403, 200, 403),
    "kb.set_status":                    T("POST /kb/articles/{article_id}/status",             302, 403, 403, 303, 303, 303, 303),
    "kb.restore":                       T("POST /kb/articles/{article_id}/versions/1/restore", 302, 403, 403, 403, 403, 303, 403),
    "kb.reviewed":                      T("POST /kb/articles/{article_id}/reviewed",           302, 403, 403, 403, 403, 302, 403),
    "kb.review":                        T("GET /kb/review",                                    302, 403, 403, 403, 403, 200, 403),
    "kb.stats":                         T("GET /kb/stats",                                     302, 403, 403, 403, 403, 200, 403),
    "kb.stats_json":                    T("GET /kb/stats.json",                                302, 403, 403, 403, 403, 200, 403),
    "kb.editors":                       T("GET /kb/editors",                                   302, 403, 403, 403, 403, 403, 200),
    "kb.set_editor":                    T("POST /kb/editors/{user_id}/1",                      302, 403, 403, 403, 403, 403, 302),
    "kb.from_ticket":                   T("GET /kb/from-ticket/{ref}",                         302, 403, 403, 409, 404, 409, 404),  # 409: not resolved
    "kb.link":                          T("POST /kb/tickets/{ref}/links",                      302, 403, 403, 302, 404, 302, 404, data={"article_id": "{article_id}"}),
    "kb.unlink":                        T("POST /kb/tickets/{ref}/links/{article_id}/delete",  302, 403, 403, 302, 404, 404, 404),  # sup: already unlinked
    # supervisor pages
    "sla.dashboard_page":               T("GET /supervisor/dashboard",                         302, 403, 403, 403, 403, 200, 200),
    "sla.dashboard_json":               T("GET /supervisor/dashboard/data.json",               302, 403, 403, 403, 403, 200, 200),
    "sla.figure_json":                  T("GET /supervisor/dashboard/summary.json",            302, 403, 403, 403, 403, 200, 200),
    "sla.figure_csv":                   T("GET /supervisor/dashboard/daily.csv",               302, 403, 403, 403, 403, 200, 200),
    "sla.figure_svg":                   T("GET /supervisor/dashboard/volume.svg",              302, 403, 403, 403, 403, 200, 200),
    "sla.breaches":                     T("GET /supervisor/breaches",                          302, 403, 403, 403, 403, 200, 200),
    "routing_admin.overview":           T("GET /supervisor/routing",                           302, 403, 403, 403, 403, 200, 200),
    "routing_admin.data":               T("GET /supervisor/routing/data.json",                 302, 403, 403, 403, 403, 200, 200),
    "routing_admin.coverage_chart":     T("GET /supervisor/routing/coverage.svg",              302, 403, 403, 403, 403, 200, 200),
    "triage_groups.groups":             T("GET /agent/triage/groups",                          302, 403, 403, 200, 200, 200, 200),
    # admin pages
    "admin.users":                      T("GET /admin/users",                                  302, 403, 403, 403, 403, 403, 200),
    "admin.unverified_accounts":        T("GET /admin/unverified-accounts",                    302, 403, 403, 403, 403, 403, 200),
    "admin.set_active":                 T("POST /admin/users/{user_id}/active/0",              302, 403, 403, 403, 403, 403, 302),
    "admin.set_role":                   T("POST /admin/users/{user_id}/role",                  302, 403, 403, 403, 403, 403, 302, data={"role": "supervisor"}),
    "admin.queues":                     T("GET /admin/queues",                                 302, 403, 403, 403, 403, 200, 200),
    "admin.queue_active":               T("POST /admin/queues/{other_queue_id}/active/0",      302, 403, 403, 403, 403, 403, 302),
    "admin.queue_assignment":           T("POST /admin/queues/{queue_id}/assignment",          302, 403, 403, 403, 403, 302, 302),
    "admin.members":                    T("GET /admin/queues/{queue_id}/members",              302, 403, 403, 403, 403, 200, 200),
    "admin.remove_member":              T("POST /admin/queues/{queue_id}/members/{user_id}/remove", 302, 403, 403, 403, 403, 200, 200),  # the confirmation page
    "admin.tokens":                     T("GET /admin/tokens",                                 302, 403, 403, 403, 403, 403, 200),
    "admin.revoke_token":               T("POST /admin/tokens/{token_id}/revoke",              302, 403, 403, 403, 403, 403, 302),
    "admin.rotate_token":               T("POST /admin/tokens/{token_id}/rotate",              302, 403, 403, 403, 403, 403, 200, data={"overlap": "60"}),  # shows the new secret
    "admin_webhooks.endpoints":         T("GET /admin/webhooks",                               302, 403, 403, 403, 403, 403, 200),
    "admin_webhooks.endpoint":          T("GET /admin/webhooks/{webhook_id}",                  302, 403, 403, 403, 403, 403, 200),
    "admin_webhooks.rotate_secret":     T("POST /admin/webhooks/{webhook_id}/rotate-secret",   302, 403, 403, 403, 403, 403, 200),  # the page with the new secret
    "admin_webhooks.replay":            T("POST /admin/webhooks/{webhook_id}/deliveries/{webhook_delivery_id}/replay", 302, 403, 403, 403, 403, 403, 302),
    "admin.mfa_reset":                  T("POST /admin/users/{user_id}/mfa-reset",             302, 403, 403, 403, 403, 403, 302),
    "admin.audit_log":                  T("GET /admin/audit",                                  302, 403, 403, 403, 403, 403, 200),
    "admin.audit_export":               T("GET /admin/audit.csv",                              302, 403, 403, 403, 403, 403, 200),
    "admin.system":                     T("GET /admin/system",                                 302, 403, 403, 403, 403, 403, 200),
    "admin.resend_invite":              T("POST /admin/users/{user_id}/invite",                302, 403, 403, 403, 403, 403, 302),
    "admin.patient_search":             T("GET /admin/patients",                               302, 403, 403, 403, 403, 403, 200),
    "admin.patient_account":            T("GET /admin/patients/{owner_id}",                    302, 403, 403, 403, 403, 403, 200),
    "admin.patient_action":             T("POST /admin/patients/{owner_id}/reactivate",        302, 403, 403, 403, 403, 403, 302),
    "admin.patient_merge":              T("POST /admin/patients/{spare_id}/merge",             302, 403, 403, 403, 403, 403, 302),
    "retention.page":                   T("GET /admin/retention",                              302, 403, 403, 403, 403, 403, 200),
    "retention.periods":                T("POST /admin/retention/periods",                     302, 403, 403, 403, 403, 403, 302, data={"closed_tickets": "3650"}),
    "retention.dry_run":                T("POST /admin/retention/dry-run",                     302, 403, 403, 403, 403, 403, 302),
    "retention.run_now":                T("POST /admin/retention/run",                         302, 403, 403, 403, 403, 403, 302),
    "retention.place_hold":             T("POST /admin/retention/holds",                       302, 403, 403, 403, 403, 302, 302, data={"reference": "{ref}", "reason": "Case 7"}),
    "retention.release_hold":           T("POST /admin/retention/holds/{hold_id}/release",     302, 403, 403, 403, 403, 302, 302),
    "admin.calendar_list":              T("GET /admin/calendars",                              302, 403, 403, 403, 403, 403, 200),
    "admin.calendar_edit":              T("GET /admin/calendars/{calendar_id}",                302, 403, 403, 403, 403, 403, 200),
    "sla_admin.policy_list":            T("GET /admin/sla-policies",                           302, 403, 403, 403, 403, 403, 200),
    "sla_admin.policy_new":             T("GET /admin/sla-policies/new",                       302, 403, 403, 403, 403, 403, 200),
    "sla_admin.policy_edit":            T("GET /admin/sla-policies/{policy_id}",               302, 403, 403, 403, 403, 403, 200),
    "sla_admin.queue_settings":         T("GET /admin/queues/{queue_id}/settings",             302, 403, 403, 403, 403, 403, 200),
    "access.review":                    T("GET /admin/break-glass",                            302, 403, 403, 403, 403, 403, 200),
    "access.reviewed":                  T("POST /admin/break-glass/{grant_id}/reviewed",       302, 403, 403, 403, 403, 403, 302),
    "notify.outbox":                    T("GET /admin/outbox",                                 302, 403, 403, 403, 403, 403, 200),
    "notify.outbox_mail":               T("GET /admin/outbox/{outbox_id}",                     302, 403, 403, 403, 403, 403, 200),
    "notify.outbox_retry":              T("POST /admin/outbox/{outbox_id}/retry",              302, 403, 403, 403, 403, 403, 302),
    "notify.held_mail":                 T("GET /admin/mail",                                   302, 403, 403, 403, 403, 403, 200),
    "notify.held_mail_item":            T("GET /admin/mail/{held_id}",                         302, 403, 403, 403, 403, 403, 200),
    "notify.held_mail_raw":             T("GET /admin/mail/{held_id}/raw",                     302, 403, 403, 403, 403, 403, 200),
    "notify.held_mail_release":         T("POST /admin/mail/{held_id}/release",                302, 403, 403, 403, 403, 403, 409),  # empty mail
    "notify.held_mail_dismiss":         T("POST /admin/mail/{held2_id}/dismiss",               302, 403, 403, 403, 403, 403, 302),
    # clinical alerts (alert: a flagged request with nobody on duty, so sup and admin were alerted) and the roster
    "clinical.alerts":                  T("GET /clinical/alerts",                              302, 403, 403, 200, 200, 200, 200),
    "clinical.alerts_json":             T("GET /clinical/alerts.json",                         302, 403, 403, 200, 200, 200, 200),
    "clinical.acknowledge":             T("POST /clinical/alerts/{alert_id}/acknowledge",      302, 403, 403, 404, 404, 302, 302),  # agents were not alerted
    "clinical.roster_page":             T("GET /admin/on-call",                                302, 403, 403, 403, 403, 200, 200),
    "clinical.roster_add":              T("POST /admin/on-call/members",                       302, 403, 403, 403, 403, 302, 302, data={"user_id": "{candidate_id}", "mode": "on"}),
    "clinical.roster_mode":             T("POST /admin/on-call/members/{clinician_id}/mode",   302, 403, 403, 403, 403, 302, 302, data={"mode": "off"}),
    "clinical.roster_shift_add":        T("POST /admin/on-call/members/{clinician_id}/shifts", 302, 403, 403, 403, 403, 302, 302, data={"weekday": "0", "start": "07:00", "end": "19:00"}),
    "clinical.roster_shift_remove":     T("POST /admin/on-call/shifts/{shift_id}/remove",      302, 403, 403, 403, 403, 302, 302),
    "clinical.roster_remove":           T("POST /admin/on-call/members/{candidate_id}/remove", 302, 403, 403, 403, 403, 302, 302),
    # JSON API (bearer tokens; token = the portal, which created the ticket)
    "api-docs.openapi_json":            T("GET /api/v1/openapi.json",                          200, 200, 200, 200, 200, 200, 200, 200),
    "api_docs.docs":                    T("GET /api/v1/docs",                                  200, 200, 200, 200, 200, 200, 200, 200),
    "api_docs.asset":                   T("GET /api/v1/docs/assets/swagger-ui.css",            200, 200, 200, 200, 200, 200, 200, 200),
    "api_tickets.Tickets":              T("GET /api/v1/tickets",                               401, 200, 200, 200, 200, 200, 200, 200),
    "api_tickets.TicketItem":           T("GET /api/v1/tickets/{ref}",                         401, 200, 404, 200, 404, 200, 404, 200),
    "api_tickets.TicketMessages":       T("POST /api/v1/tickets/{ref}/messages",               401, 201, 404, 201, 404, 201, 404, 201, json={"body": "Thank you."}),
    "api_attachments.MessagesWithAttachments": T("POST /api/v1/tickets/{ref}/messages/with-attachments", 401, 422, 404, 422, 404, 422, 404, 422),
    "api_attachments.TicketsWithAttachments": T("POST /api/v1/tickets/with-attachments",             401, 403, 403, 403, 403, 403, 403, 422),  # a creation: no one else's object to 404
    "api_attachments.Download":                T("GET /api/v1/attachments/{attachment_id}",           401, 200, 404, 200, 404, 200, 404, 200),
    "api_inbound_mail.InboundMail":            T("POST /api/v1/inbound-mail",                         404, 404, 404, 404, 404, 404, 404, 404),  # off unless configured
    "api_admin_users.Accounts":         T("GET /api/v1/admin/users",                           401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin_users.Account":          T("GET /api/v1/admin/users/{user_id}",                 401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin_users.Invitation":       T("POST /api/v1/admin/users/{user_id}/invitation",     401, 403, 403, 403, 403, 403, 409, 403),
    "api_sla_admin.Policies":           T("GET /api/v1/admin/sla-policies",                    401, 403, 403, 403, 403, 403, 200, 403),
    "api_sla_admin.PolicyItem":         T("GET /api/v1/admin/sla-policies/{policy_id}",        401, 403, 403, 403, 403, 403, 200, 403),
    "api_sla_admin.Preview":            T("POST /api/v1/admin/sla-policies/preview",           401, 403, 403, 403, 403, 403, 200, 403, json={"name": "Draft", "targets": {"*": {"first_reply": {"seconds": 3600}}}}),
    "api_sla_admin.QueueSettings":      T("GET /api/v1/admin/queues/{queue_id}/settings",      401, 403, 403, 403, 403, 403, 200, 403),
    "api_patient_links.PatientLinks":   T("POST /api/v1/patient-links",                        401, 403, 403, 403, 403, 403, 403, 201, json={"system": "portal", "value": "M-1"}),  # unknown identifier: 404 (tests/auth/test_patient_links.py)
    "api_admin.Retention":              T("GET /api/v1/admin/retention",                       401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.RetentionKind":          T("PUT /api/v1/admin/retention/closed_tickets",        401, 403, 403, 403, 403, 403, 200, 403, json={"days": 3650}),
    "api_admin.RetentionDryRun":        T("POST /api/v1/admin/retention/dry-run",              401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.Holds":                  T("GET /api/v1/admin/retention/holds",                 401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.HoldItem":               T("DELETE /api/v1/admin/retention/holds/{hold2_id}",    401, 403, 403, 403, 403, 403, 204, 403),
    "api_admin.Patients":               T("GET /api/v1/admin/patients",                        401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.PatientItem":            T("GET /api/v1/admin/patients/{owner_id}",             401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.PatientUnlock":          T("POST /api/v1/admin/patients/{spare_id}/unlock"  ,     401, 403, 403, 403, 403, 403, 422, 403),  # nothing to unlock
    "api_admin.PatientReset":           T("POST /api/v1/admin/patients/{spare_id}/reset-password", 401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.PatientActive":          T("POST /api/v1/admin/patients/{spare_id}/deactivate", 401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.PatientMerge":           T("POST /api/v1/admin/patients/{spare_id}/merge",      401, 403, 403, 403, 403, 403, 200, 403, json={"into": "{spare2_id}"}),
    "api_admin.Calendars":              T("GET /api/v1/admin/calendars",                       401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.CalendarPresets":        T("GET /api/v1/admin/calendars/presets",               401, 403, 403, 403, 403, 403, 200, 403),
    "api_admin.CalendarItem":           T("GET /api/v1/admin/calendars/{calendar_id}",         401, 403, 403, 403, 403, 403, 200, 403),
    "api_oncall.Roster":                T("GET /api/v1/oncall",                                401, 403, 403, 403, 403, 200, 200, 403),
    "api_oncall.Members":               T("POST /api/v1/oncall/members",                       401, 403, 403, 403, 403, 201, 409, 403, json={"user_id": "{candidate2_id}", "mode": "on"}),
    "api_oncall.MemberDuty":            T("PUT /api/v1/oncall/members/{clinician_id}/duty",    401, 403, 403, 403, 403, 200, 200, 403, json={"mode": "shifts"}),
    "api_oncall.MemberShifts":          T("POST /api/v1/oncall/members/{clinician_id}/shifts", 401, 403, 403, 403, 403, 201, 409, 403, json={"weekday": 6, "start": "22:00", "end": "06:00"}),
    "api_oncall.ShiftItem":             T("DELETE /api/v1/oncall/shifts/{shift2_id}",          401, 403, 403, 403, 403, 204, 404, 403),
    "api_oncall.MemberItem":            T("DELETE /api/v1/oncall/members/{candidate2_id}",     401, 403, 403, 403, 403, 204, 404, 403),
}
# fmt: on


@dataclass
class World:
    users: dict[str, Any]
    params: dict[str, Any]
    secrets: dict[str, str]


@pytest.fixture
def world(ctx, queues, patient, other_patient, agent, outsider_agent, supervisor, admin, portal, make_ticket,
          make_user) -> World:
    """Real objects for every placeholder, made through the services."""
    from helpdesk.access.models import BreakGlassGrant
    from helpdesk.kb import services as kb
    from helpdesk.notify import attachments, csat, inbound
    from helpdesk.notify import services as notify
    from helpdesk.notify.models import Attachment, Notification, OutgoingEmail
    from helpdesk.tickets import macros, saved_views
    from helpdesk.tickets import services as tickets
    from helpdesk.tickets.models import Channel
    from helpdesk.timeutil import utcnow
    from tests.notify.samples import png

    portal_user, portal_secret = portal
    ticket = make_ticket(requester=patient, created_by=portal_user, channel=Channel.API)
    tickets.post_message(ticket, author=patient, body="Here is the scan.",
                         attachments=[attachments.Upload("scan.png", png())])
    agent_note = tickets.post_message(ticket, author=agent, body="Looking into it.", public=False).message
    attachment = db.session.scalars(sa.select(Attachment).where(Attachment.ticket_id == ticket.id)).one()
    target = make_user(Role.AGENT, member_of=("billing",), name="Tess Target")
    article = kb.create_article(actor=supervisor, data={
        "title": "Reset your password", "summary": "Forgot your password? Reset it yourself.",
        "body_md": "## Steps\n\n1. Open the sign-in page.\n", "category": "Signing in",
        "queues": ["account-access"], "audience": "public", "language": "en"})
    for step in ("in_review", "published"):
        kb.change_status(article, actor=supervisor, status=step)
    kb.link_ticket(ticket, article, actor=agent)
    macro = macros.create_macro(actor=supervisor, data={"title": "Billing thanks", "body": "Thanks for waiting.",
                                                       "scope": "billing", "set_status": "", "set_priority": "",
                                                       "set_queue_id": ""})
    view = saved_views.save_view(actor=agent, name="Mine", scope="personal", args={"assignee": "mine"})
    notify.add_notifications([agent.id], "assigned", ticket)
    db.session.commit()
    notification = db.session.scalars(sa.select(Notification).where(Notification.user_id == agent.id)).first()
    survey_token = csat.open_survey(ticket)
    db.session.commit()
    held, held2 = inbound.ingest(b""), inbound.ingest(b"")
    outbox = db.session.scalars(sa.select(OutgoingEmail).order_by(OutgoingEmail.id)).first()
    assert outbox is not None, "creating a ticket queues the patient's acknowledgement"
    scheduling_sup = make_user(Role.SUPERVISOR, member_of=("scheduling",))
    grant = BreakGlassGrant(user_id=scheduling_sup.id, ticket_id=ticket.id, reason="Escalated by the clinic manager",
                            created_at=utcnow(), expires_at=utcnow())
    db.session.add(grant)
    db.session.commit()
    from helpdesk.clinical import services as clinical

    clinician = make_user(Role.AGENT, member_of=("clinical-escalation",), name="Cleo Clinician")
    candidate = make_user(Role.AGENT, member_of=("clinical-escalation",), name="Cand One")
    candidate2 = make_user(Role.AGENT, member_of=("clinical-escalation",), name="Cand Two")
    clinical.add_to_roster(actor=None, user=clinician, mode="off")  # nobody on duty: sup and admin are alerted
    shift = clinical.add_shift(actor=None, user=clinician, weekday=4, start="22:00", end="06:00")
    shift2 = clinical.add_shift(actor=None, user=clinician, weekday=5, start="22:00", end="06:00")
    flagged = make_ticket(requester=patient, subject="Help", body="my father has chest pain and can't breathe",
                          queue=None)
    alert = db.session.scalar(sa.select(ClinicalAlert).where(ClinicalAlert.ticket_id == flagged.id))
    token_row = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == portal_user.id)).one()
    db.session.add(PatientIdentifier(user_id=patient.id, system="portal", value="M-1"))  # the portal's id of the owner
    db.session.commit()
    from helpdesk.webhooks import services as webhooks
    from helpdesk.webhooks.models import WebhookDelivery

    webhook, _secret = webhooks.create_endpoint(actor=None, url="http://127.0.0.1:9/nothing-listens",
                                                events=["ticket.status_changed"])
    tickets.update_ticket(ticket, actor=agent, status="pending_patient")  # one delivery (connection refused)
    webhook_delivery = db.session.scalars(sa.select(WebhookDelivery)).one()
    users = {"owner": patient, "other": other_patient, "agent": agent, "outsider": outsider_agent,
             "sup": supervisor, "admin": admin}
    secrets = {"token": portal_secret}
    for role, user in users.items():
        _t, secrets[role] = accounts.create_api_token(actor=None, name=f"{role} cli", user=user)
    spare = make_user(Role.PATIENT, name="Sam Spare")  # the admin API's account actions change these two
    spare2 = make_user(Role.PATIENT, name="Sue Spare")
    params = {
        "ref": ticket.reference, "queue_id": ticket.queue_id, "user_id": target.id, "token_id": token_row.id,
        "article_id": article.id, "slug": article.slug, "category": "signing-in", "macro_id": macro.id,
        "view_id": view.id, "notification_id": notification.id,
        "attachment_id": attachment.id, "survey_token": survey_token, "held_id": held.id, "held2_id": held2.id, "outbox_id": outbox.id,
        "other_queue_id": queues["records"].id,
        "grant_id": grant.id, "message_id": agent_note.id, "alert_id": alert.id, "clinician_id": clinician.id,
        "candidate_id": candidate.id, "candidate2_id": candidate2.id, "shift_id": shift.id, "shift2_id": shift2.id,
        "reset_secret": "no-such-link-" + "0" * 30, "verify_token": "no-such-link-" + "0" * 30,
        "link_token": "no-such-link-" + "0" * 30,
        "owner_id": patient.id, "webhook_id": webhook.id, "webhook_delivery_id": webhook_delivery.id,
        "policy_id": sla_policy_admin.create_policy(actor_id=admin.id, data={
            "name": "Matrix policy", "targets": {"*": {"first_reply": {"seconds": 3600}}}}).id,
        "spare_id": spare.id, "spare2_id": spare2.id,
        "hold2_id": retention.place_hold(actor=admin, patient=spare2, reason="Matrix patient hold").id,
        "hold_id": retention.place_hold(actor=admin, ticket=ticket, reason="Matrix hold").id,
        "calendar_id": sla_calendars.create(actor_id=admin.id, name="Matrix calendar",
                                            spec={"timezone": "UTC", "hours": {"mon": [["08:00", "18:00"]]}}).id,
    }
    return World(users=users, params=params, secrets=secrets)


def _fill(value: Any, params: dict[str, Any], *, typed: bool = False) -> Any:
    if isinstance(value, str):
        if typed and value.startswith("{") and value.endswith("}") and isinstance(params.get(value[1:-1]), int):
            return params[value[1:-1]]  # JSON: a whole placeholder keeps its type (ids are numbers)
        return value.format(**params)
    if isinstance(value, dict):
        return {k: _fill(v, params, typed=typed) for k, v in value.items()}
    return value


def _request(client, row: Row, role: str, world: World, path: str):
    api = row.path.startswith("/api/")
    headers = {}
    with client.session_transaction() as session:
        session.clear()
    if role in world.users and not api:
        login(client, world.users[role])
    if api and role != "anon":
        headers = bearer(world.secrets[role])
    data = _fill(row.data, world.params)
    if row.method == "GET":
        return client.get(path, headers=headers)
    if row.json is not None:
        return client.open(path, method=row.method, json=_fill(row.json, world.params, typed=True), headers=headers)
    if row.method != "POST":
        return client.open(path, method=row.method, headers=headers)
    return client.post(path, data=data, headers=headers)


def test_every_route_has_an_entry(app: Flask):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    missing = sorted(endpoints - MATRIX.keys())
    stale = sorted(MATRIX.keys() - endpoints)
    assert not missing, f"routes without a line in MATRIX: {missing}"
    assert not stale, f"MATRIX lines for routes that no longer exist: {stale}"


def test_rows_request_their_own_endpoint(app: Flask):
    """Each line's request reaches the endpoint it describes (placeholders filled with 1)."""
    adapter = app.url_map.bind("localhost")
    dummy = {k: 1 for k in ("ref", "queue_id", "user_id", "token_id", "article_id", "macro_id", "view_id",
                            "notification_id", "attachment_id", "held_id", "held2_id", "outbox_id", "grant_id",
                            "other_queue_id", "message_id", "alert_id", "clinician_id", "candidate_id",
                            "candidate2_id", "shift_id", "shift2_id", "calendar_id", "owner_id", "policy_id", "hold_id",
                            "spare_id", "spare2_id", "hold2_id",
                            "webhook_id", "webhook_delivery_id")}
    dummy |= {"slug": "a-slug", "category": "a-category", "survey_token": "tok", "reset_secret": "secret",
              "verify_token": "tok", "link_token": "tok"}
    for endpoint, row in MATRIX.items():
        got, _args = adapter.match(_fill(row.path, dummy), method=row.method)
        assert got == endpoint, (endpoint, row.path)
        rule = next(r for r in app.url_map.iter_rules(endpoint))
        if row.method != "GET":
            assert "GET" not in rule.methods, f"{endpoint}: request GET for GET routes"
        api = row.path.startswith("/api/")
        assert (row.expected["token"] is not None) == api, f"{endpoint}: the token column is for API rows only"


# Lines that change what later lines rely on run last, in this order.
LAST = ("workspace.macro_delete", "workspace.view_delete", "admin.rotate_token", "admin.revoke_token", "admin.queue_active",
        "admin.remove_member", "admin.set_role", "admin.set_active", "patient.close", "auth.logout")


def run_order() -> list[str]:
    gets = [e for e, row in MATRIX.items() if row.method == "GET" and e not in LAST]
    posts = [e for e, row in MATRIX.items() if row.method != "GET" and e not in LAST]
    return gets + posts + [e for e in LAST if e in MATRIX]


def test_permission_matrix(app: Flask, client, world: World):
    """One world for every line (building one per line costs minutes): reads first."""
    mismatches = {}
    for endpoint in run_order():
        row = MATRIX[endpoint]
        path = _fill(row.path, world.params)
        actual = {}
        for role in ROLES:
            if row.expected[role] is None:
                actual[role] = None
                continue
            resp = _request(client, row, role, world, path)
            actual[role] = resp.status_code
            resp.close()
        if actual != row.expected:
            mismatches[endpoint] = {r: f"got {actual[r]}, expected {row.expected[r]}"
                                    for r in ROLES if actual[r] != row.expected[r]}
    assert not mismatches, "\n".join(f"{e}: {m}" for e, m in mismatches.items())


# fmt: off
# With single sign-on configured: "Sign in with …" sends the signed-out to the provider and the
# signed-in home; a callback this browser did not start is refused (403, audited) whoever asks.
SSO_MATRIX: dict[str, Row] = {
    "sso.start":                        T("GET /login/sso",                                    302, 302, 302, 302, 302, 302, 302),
    "sso.callback":                     T("GET /login/sso/callback?code=x&state=y",            403, 403, 403, 403, 403, 403, 403),
}
# fmt: on


def test_single_sign_on_routes_when_configured(client, sso_on, patient, other_patient, agent, outsider_agent,
                                               supervisor, admin):
    world = World(users={"owner": patient, "other": other_patient, "agent": agent, "outsider": outsider_agent,
                         "sup": supervisor, "admin": admin}, params={}, secrets={})
    mismatches = {}
    for endpoint, row in SSO_MATRIX.items():
        actual = {role: None if row.expected[role] is None else _request(client, row, role, world, row.path).status_code
                  for role in ROLES}
        if actual != row.expected:
            mismatches[endpoint] = actual
    assert not mismatches, mismatches
    with client.session_transaction() as session:
        session.clear()
    start = client.get("/login/sso")  # signed out: to the provider
    assert start.headers["Location"].startswith(f"{sso_on.issuer}/authorize?")
