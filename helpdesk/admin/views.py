"""Admin pages (users, queues, API tokens) and supervisors' queue membership."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from helpdesk import storage
from helpdesk.admin import audit_search
from helpdesk.admin import patients as patient_accounts
from helpdesk.auth import activation, invites, mfa, services
from helpdesk.auth.lockedout import placeholder_ids
from helpdesk.auth.models import ApiToken, Role, SsoIdentity, User
from helpdesk.errors import DomainError, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.formutil import choices
from helpdesk.notify import attachments
from helpdesk.notify.mail import sends_mail
from helpdesk.permissions import (
    can_manage_queue_members,
    dashboard_queue_ids,
    is_admin,
    role_required,
)
from helpdesk.retention import services as retention
from helpdesk.sla import calendars
from helpdesk.sla.clock import WEEKDAYS
from helpdesk.tickets.models import Assignment, Queue, QueueMembership, Status, Ticket
from helpdesk.timeutil import utcnow

from .forms import (
    OVERLAP_CHOICES,
    ActionForm,
    CalendarForm,
    MemberForm,
    QueueForm,
    RotateTokenForm,
    TokenForm,
    UserForm,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _me() -> User:
    return current_user._get_current_object()


def _flash_error(err: DomainError) -> None:
    details = "; ".join(m for msgs in (err.fields or {}).values() for m in (msgs if isinstance(msgs, list) else [str(msgs)]))
    flash(f"{err.message} {details}".strip(), "error")


def _get(model, ident: int):
    obj = db.session.get(model, ident)
    if obj is None:
        raise NotFound("Not found.")
    return obj


# ---------------------------------------------------------------- users


@bp.route("/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = invites.invite_staff(actor=_me(), email=form.email.data, name=form.name.data, role=form.role.data)
        except DomainError as err:
            _flash_error(err)
        else:
            flash(f"Invitation e-mailed to {user.email}: the link to choose a password works for "
                  f"{int(invites.INVITE_TTL.total_seconds() // 3600)} hours.", "success")
            return redirect(url_for("admin.users"))
    rows = services.staff_accounts()
    patients = db.session.scalar(sa.select(sa.func.count()).where(User.role == Role.PATIENT,
                                                                  User.id.not_in(placeholder_ids())))
    sso_ids = set(db.session.scalars(sa.select(SsoIdentity.user_id)))  # they sign in through the provider
    return render_template("admin/users.html", users=list(rows), patients=patients, form=form, action=ActionForm(),
                           roles=services.ASSIGNABLE_ROLES, me=_me(), sso_ids=sso_ids), (
        422 if form.errors else 200
    )


@bp.get("/unverified-accounts")
@role_required(Role.ADMIN)
def unverified_accounts():
    """Self-registered patients who haven't confirmed their e-mail address yet."""
    try:
        after = max(0, min(int(request.args.get("after", "0")), 2**31 - 1))
    except ValueError:
        after = 0
    rows, next_after = activation.unconfirmed_accounts(after, 50)
    return render_template("admin/unverified_accounts.html", rows=rows, next_after=next_after,
                           counts=activation.unconfirmed_counts(), now=utcnow())


@bp.post("/users/<int:user_id>/active/<int:active>")
@role_required(Role.ADMIN)
def set_active(user_id: int, active: int):
    user = _get(User, user_id)
    if ActionForm().validate_on_submit():
        try:
            services.set_active(actor=_me(), user=user, active=bool(active))
            flash("Account updated.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/mfa-reset")
@role_required(Role.ADMIN)
def mfa_reset(user_id: int):
    """Clear a member's authenticator (lost phone): their sessions end and they set up
    two-step sign-in again at their next sign-in."""
    user = _get(User, user_id)
    if ActionForm().validate_on_submit():
        try:
            mfa.reset(actor=_me(), user=user)
            flash(f"Two-step sign-in reset for {user.display_name}: they set it up again at their next sign-in.",
                  "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/role")
@role_required(Role.ADMIN)
def set_role(user_id: int):
    user = _get(User, user_id)
    if ActionForm().validate_on_submit():
        try:
            services.change_role(actor=_me(), user=user, role=request.form.get("role", ""))
            flash(f"{user.display_name} is now {user.role.value}. Their sessions were ended.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.users"))


# ---------------------------------------------------------------- queues and membership


@bp.route("/queues", methods=["GET", "POST"])
@role_required(Role.ADMIN, Role.SUPERVISOR)
def queues():
    me = _me()
    form = QueueForm()
    if is_admin(me) and form.validate_on_submit():
        try:
            queue = services.create_queue(actor=me, slug=form.slug.data, name=form.name.data, description=form.description.data)
        except DomainError as err:
            _flash_error(err)
        else:
            flash(f"Queue {queue.name} created.", "success")
            return redirect(url_for("admin.queues"))
    stmt = sa.select(Queue).order_by(Queue.name)
    scope = dashboard_queue_ids(me)
    if scope is not None:
        stmt = stmt.where(Queue.id.in_(scope))
    rows = list(db.session.scalars(stmt))
    counts = dict(db.session.execute(sa.select(QueueMembership.queue_id, sa.func.count()).group_by(QueueMembership.queue_id)).all())
    return render_template("admin/queues.html", queues=rows, counts=counts, form=form, action=ActionForm(), me=me)


@bp.post("/queues/<int:queue_id>/active/<int:active>")
@role_required(Role.ADMIN)
def queue_active(queue_id: int, active: int):
    queue = _get(Queue, queue_id)
    if ActionForm().validate_on_submit():
        try:
            services.set_queue_active(actor=_me(), queue=queue, active=bool(active))
            flash("Queue updated.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.queues"))


@bp.post("/queues/<int:queue_id>/assignment")
@role_required(Role.ADMIN, Role.SUPERVISOR)
def queue_assignment(queue_id: int):
    queue = _managed_queue(queue_id)
    if ActionForm().validate_on_submit():
        try:
            services.set_queue_assignment(actor=_me(), queue=queue, assignment=request.form.get("assignment", ""))
            flash("Assignment method updated.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.members", queue_id=queue.id))


def _managed_queue(queue_id: int) -> Queue:
    queue = _get(Queue, queue_id)
    if not can_manage_queue_members(_me(), queue.id):
        raise NotFound("Not found.")
    return queue


@bp.route("/queues/<int:queue_id>/members", methods=["GET", "POST"])
@role_required(Role.ADMIN, Role.SUPERVISOR)
def members(queue_id: int):
    queue = _managed_queue(queue_id)
    current = list(
        db.session.scalars(
            sa.select(User).join(QueueMembership, QueueMembership.user_id == User.id)
            .where(QueueMembership.queue_id == queue.id).order_by(User.display_name)
        )
    )
    candidates = list(
        db.session.scalars(
            sa.select(User).where(
                User.role.in_([Role.AGENT, Role.SUPERVISOR]), User.active.is_(True),
                User.id.not_in([u.id for u in current] or [0]),
            ).order_by(User.display_name)
        )
    )
    form = MemberForm()
    form.user_id.choices = choices((u.id, f"{u.display_name} ({u.role.value})") for u in candidates)
    if form.validate_on_submit():
        try:
            services.add_member(actor=_me(), queue=queue, user=_get(User, form.user_id.data))
            flash("Member added.", "success")
        except DomainError as err:
            _flash_error(err)
        return redirect(url_for("admin.members", queue_id=queue.id))
    return render_template("admin/members.html", queue=queue, members=current, form=form, action=ActionForm(),
                           assignments=list(Assignment))


@bp.post("/queues/<int:queue_id>/members/<int:user_id>/remove")
@role_required(Role.ADMIN, Role.SUPERVISOR)
def remove_member(queue_id: int, user_id: int):
    """Two steps: the first post shows what removing means (nothing changes); the member is
    removed only when that page is confirmed (``confirm=yes``)."""
    queue = _managed_queue(queue_id)
    if ActionForm().validate_on_submit():
        if request.form.get("confirm") != "yes":
            user = _get(User, user_id)
            is_member = db.session.scalar(sa.select(QueueMembership.id).where(
                QueueMembership.queue_id == queue.id, QueueMembership.user_id == user.id))
            if is_member is None:
                flash("Not a member of this queue.", "error")
                return redirect(url_for("admin.members", queue_id=queue.id))
            assigned = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
                Ticket.queue_id == queue.id, Ticket.assignee_id == user.id,
                Ticket.status.not_in([Status.RESOLVED, Status.CLOSED]))) or 0
            return render_template("admin/member_remove_confirm.html", queue=queue, user=user, assigned=assigned,
                                   action=ActionForm())
        try:
            services.remove_member(actor=_me(), queue=queue, user=_get(User, user_id))
            flash("Member removed.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.members", queue_id=queue.id))


# ---------------------------------------------------------------- API tokens


@bp.route("/tokens", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def tokens():
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        try:
            _token, secret = services.create_api_token(actor=_me(), name=form.name.data, scopes=form.scopes(),
                                                       expires_in_days=form.expires_in_days())
        except DomainError as err:
            _flash_error(err)
        else:
            flash("Token created. Copy it now: it won't be shown again.", "success")
    rows = list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.created_at.desc())))
    return render_template("admin/tokens.html", tokens=rows, form=TokenForm(formdata=None), secret=secret,
                           action=ActionForm(), rotate=RotateTokenForm(formdata=None),
                           overlap_choices=OVERLAP_CHOICES)


@bp.post("/tokens/<int:token_id>/rotate")
@role_required(Role.ADMIN)
def rotate_token(token_id: int):
    """A new secret for the token (shown once); the old one is revoked now or kept for the overlap."""
    token = _get(ApiToken, token_id)
    form = RotateTokenForm()
    secret = None
    if form.validate_on_submit():
        try:
            _new, secret = services.rotate_api_token(actor=_me(), token=token, overlap_minutes=form.overlap.data)
        except DomainError as err:
            _flash_error(err)
        else:
            flash("Token rotated. Copy the new secret now: it won't be shown again.", "success")
    if secret is None:
        return redirect(url_for("admin.tokens"))
    rows = list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.created_at.desc())))
    return render_template("admin/tokens.html", tokens=rows, form=TokenForm(formdata=None), secret=secret,
                           action=ActionForm(), rotate=RotateTokenForm(formdata=None),
                           overlap_choices=OVERLAP_CHOICES)


@bp.post("/tokens/<int:token_id>/revoke")
@role_required(Role.ADMIN)
def revoke_token(token_id: int):
    token = _get(ApiToken, token_id)
    if ActionForm().validate_on_submit():
        try:
            services.revoke_api_token(actor=_me(), token=token)
            flash("Token revoked.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.tokens"))


# ---------------------------------------------------------------- system


@bp.get("/system")
@role_required(Role.ADMIN)
def system():
    """Where files are stored and whether they are scanned: clamd is asked now (PING)."""
    settings = current_app.config["HELPDESK"]
    return render_template("admin/system.html", storage=storage.for_settings(settings).describe(),
                           scanner=attachments.scanner_state(settings), shared_dir=settings.storage_backend == "filesystem")


# ---------------------------------------------------------------- audit log


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_log():
    try:
        flt = audit_search.parse_filter(request.args)
        page = audit_search.search(flt, before=audit_search.parse_cursor(request.args.get("before")))
    except ValidationFailed as err:
        flt = audit_search.AuditFilter()
        return render_template("admin/audit.html", page=None, flt=flt, args=request.args, error=err.message), 400
    return render_template("admin/audit.html", page=page, flt=flt, args=request.args, error=None)


@bp.get("/audit.csv")
@role_required(Role.ADMIN)
def audit_export():
    try:
        flt = audit_search.parse_filter(request.args)
    except ValidationFailed as err:
        return render_template("admin/audit.html", page=None, flt=audit_search.AuditFilter(), args=request.args,
                               error=err.message), 400
    through = audit_search.start_export(flt, actor_id=_me().id)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(audit_search.csv_lines(flt, through_id=through)), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"', "Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- business calendars


def _calendar_spec(form: CalendarForm) -> dict:
    return calendars.spec_from_form(
        timezone=form.timezone.data or "", hours={d: getattr(form, f"hours_{d}").data or "" for d in WEEKDAYS},
        presets=["us-federal"] if form.us_federal.data else [], local_holidays=form.holidays.data or "")


def _form_errors(form: CalendarForm, err: DomainError) -> None:
    """A refused save: each message at its field (and so in the summary), the rest flashed."""
    rest = []
    for name, msgs in (err.fields or {}).items():
        target = getattr(form, name, None)
        if target is None:
            rest.extend(msgs)
        else:
            target.errors = [*target.errors, *msgs]
    flash(" ".join([err.message, *rest]), "error")


@bp.route("/calendars", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def calendar_list():
    form = CalendarForm()
    if request.method == "GET":
        form.timezone.data = current_app.config["HELPDESK"].site_timezone
    if form.validate_on_submit():
        try:
            cal = calendars.create(actor_id=_me().id, name=form.name.data, spec=_calendar_spec(form))
        except DomainError as err:
            _form_errors(form, err)
        else:
            flash(f"Calendar {cal.name} created.", "success")
            return redirect(url_for("admin.calendar_edit", calendar_id=cal.id))
    return render_template("admin/calendars.html", rows=calendars.all_with_usage(), form=form, cal=None,
                           site_timezone=current_app.config["HELPDESK"].site_timezone)


@bp.route("/calendars/<int:calendar_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def calendar_edit(calendar_id: int):
    cal = calendars.get(calendar_id)
    form = CalendarForm()
    if request.method == "GET":
        spec = cal.spec
        form.name.data, form.timezone.data = cal.name, spec["timezone"]
        for day in WEEKDAYS:
            getattr(form, f"hours_{day}").data = ", ".join(f"{a}-{b}" for a, b in spec["hours"].get(day, []))
        form.us_federal.data = "us-federal" in (spec.get("presets") or [])
        form.holidays.data = "\n".join(spec.get("holidays") or [])
    elif form.validate_on_submit():
        try:
            calendars.update(actor_id=_me().id, calendar=cal, name=form.name.data, spec=_calendar_spec(form))
        except DomainError as err:
            _form_errors(form, err)
        else:
            flash("Calendar saved. Clocks use it from their next start, pause or resume.", "success")
            return redirect(url_for("admin.calendar_edit", calendar_id=cal.id))
    year = request.args.get("year", type=int) or utcnow().year
    if not 1900 < year < 2200:
        raise ValidationFailed("Choose a year between 1901 and 2199.")
    return render_template("admin/calendar.html", cal=cal, form=form, year=year,
                           holidays=calendars.holidays_in(cal.spec, year))


# ---------------------------------------------------------------- patient accounts


@bp.get("/patients")
@role_required(Role.ADMIN)
def patient_search():
    text = request.args.get("q", "").strip()
    born = request.args.get("born", "").strip()
    birth_date = None
    if born:
        try:
            birth_date = date.fromisoformat(born)
        except ValueError:
            raise ValidationFailed("Write the date of birth as YYYY-MM-DD.", fields={"born": ["Use YYYY-MM-DD."]}) \
                from None
    query = patient_accounts.Query(text, birth_date)
    after = request.args.get("after", type=int)
    rows, next_after = patient_accounts.search(query, actor_id=_me().id, after=after)
    return render_template("admin/patients.html", rows=rows, next_after=next_after, q=text, born=born,
                           searched=not query.empty)


@bp.get("/patients/<int:user_id>")
@role_required(Role.ADMIN)
def patient_account(user_id: int):
    user = patient_accounts.get_patient(user_id)
    return render_template("admin/patient.html", info=patient_accounts.overview(user, actor_id=_me().id),
                           action=ActionForm(), now=utcnow(), legal_holds=retention.holds_for_patient(user),
                           hold_target="patient", can_hold=True, purged=False, mail_is_sent=sends_mail())


@bp.post("/patients/<int:user_id>/<any(unlock, reset, deactivate, reactivate):what>")
@role_required(Role.ADMIN)
def patient_action(user_id: int, what: str):
    user = patient_accounts.get_patient(user_id)
    if user.merged_into_id is not None:
        flash("This account was merged into another and stays deactivated: help the patient on that account.",
              "error")
    elif ActionForm().validate_on_submit():
        try:
            if what == "unlock":
                patient_accounts.unlock(actor=_me(), user=user)
                flash("Unlocked: the failed sign-ins on this account are forgotten.", "success")
            elif what == "reset":
                patient_accounts.force_password_reset(actor=_me(), user=user)
                flash(f"The password no longer works, every session has ended, and "
                      f"{patient_accounts.reset_link_outcome()}.", "success" if sends_mail() else "warning")
            else:
                services.set_active(actor=_me(), user=user, active=what == "reactivate")
                flash("Account reactivated." if what == "reactivate" else
                      "Account deactivated: its sessions have ended and it can't sign in.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.patient_account", user_id=user.id))


@bp.post("/patients/<int:user_id>/merge")
@role_required(Role.ADMIN)
def patient_merge(user_id: int):
    """Fold this (duplicate) account into the one with the address given, after a confirmation."""
    duplicate = patient_accounts.get_patient(user_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.patient_account", user_id=duplicate.id))
    address = request.form.get("into", "").strip().lower()
    survivor = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == address, User.role == Role.PATIENT))
    if survivor is None:
        flash("No patient account has that e-mail address: nothing was merged.", "error")
        return redirect(url_for("admin.patient_account", user_id=duplicate.id))
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm the merge: nothing was merged.", "error")
        return redirect(url_for("admin.patient_account", user_id=duplicate.id))
    try:
        moved = patient_accounts.merge(actor=_me(), duplicate=duplicate, survivor=survivor)
    except DomainError as err:
        _flash_error(err)
        return redirect(url_for("admin.patient_account", user_id=duplicate.id))
    requests_moved = moved.get("tickets.requester_id", 0)
    flash(f"Merged: {requests_moved} request{'' if requests_moved == 1 else 's'} moved here; the other account is "
          "deactivated and points to this one.", "success")
    return redirect(url_for("admin.patient_account", user_id=survivor.id))


@bp.post("/users/<int:user_id>/invite")
@role_required(Role.ADMIN)
def resend_invite(user_id: int):
    user = _get(User, user_id)
    if ActionForm().validate_on_submit():
        try:
            invites.resend_invite(actor=_me(), user=user)
            flash(f"A new invitation was e-mailed to {user.email}; the earlier link no longer works.", "success")
        except DomainError as err:
            _flash_error(err)
    return redirect(url_for("admin.users"))
