"""flask commands: users, API tokens, demo data, jobs and workers."""

from __future__ import annotations

import logging

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup
from redis.exceptions import RedisError

from helpdesk import demo, jobs, periodic
from helpdesk.admin.cli import patients_cli, queues_cli
from helpdesk.audit_cli import audit_cli
from helpdesk.auth import invites, mfa, services
from helpdesk.auth.models import ApiToken, Role, Scope, User
from helpdesk.clinical.cli import oncall_cli
from helpdesk.cliutil import acting_admin, as_option, fail
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.i18n.cli import i18n_cli
from helpdesk.kb.cli import kb_cli
from helpdesk.notify.cli import mail_cli, storage_cli
from helpdesk.retention.cli import retention_cli
from helpdesk.routing.cli import routing_cli
from helpdesk.sla.cli import sla_cli
from helpdesk.tickets.macro_seed import seed_macros
from helpdesk.tickets.models import Queue
from helpdesk.webhooks.cli import webhooks_cli

users_cli = AppGroup("users", help="Manage accounts.")
token_cli = AppGroup("api-token", help="Manage API tokens.")
jobs_cli = AppGroup("jobs", help="Background jobs.")


def _fail(err: DomainError) -> None:
    details = "; ".join(f"{k}: {v}" for k, v in (err.fields or {}).items())
    raise click.ClickException(f"{err.message} {details}".strip())


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role if r != Role.INTEGRATION]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--queue", "queues", multiple=True, help="Queue slug to join (staff); repeatable.")
def create_user_cmd(email: str, name: str, role: str, password: str, queues: tuple[str, ...]) -> None:
    """Create an account."""
    try:
        user = services.create_user(actor=None, email=email, name=name, role=role, password=password)
        for slug in queues:
            queue = db.session.scalar(sa.select(Queue).where(Queue.slug == slug))
            if queue is None:
                raise click.ClickException(f"No queue '{slug}'.")
            services.add_member(actor=None, queue=queue, user=user)
    except DomainError as err:
        _fail(err)
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")


@users_cli.command("list")
def list_users_cmd() -> None:
    """List staff and integration accounts (patients are counted only)."""
    for u in db.session.scalars(sa.select(User).where(User.role != Role.PATIENT).order_by(User.id)):
        click.echo(f"{u.id:>5}  {u.role.value:<12} {'active' if u.active else 'inactive':<9} {u.email}")
    n = db.session.scalar(sa.select(sa.func.count()).where(User.role == Role.PATIENT))
    click.echo(f"{n} patient account(s)")


def _account(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No such account.")
    return user


@users_cli.command("deactivate")
@click.argument("email")
@as_option
def deactivate_cmd(email: str, as_email: str | None) -> None:
    """Deactivate an account and end its sessions."""
    actor = acting_admin(as_email)
    user = _account(email)
    try:
        services.set_active(actor=actor, user=user, active=False)
    except DomainError as err:
        _fail(err)
    click.echo(f"Deactivated {user.email}.")


@users_cli.command("invite")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in invites.STAFF_ROLES]), required=True)
@as_option
def invite_cmd(email: str, name: str, role: str, as_email: str | None) -> None:
    """Invite a staff member: a link to choose a password is e-mailed (as the Users page)."""
    actor = acting_admin(as_email)
    try:
        user = invites.invite_staff(actor=actor, email=email, name=name, role=role)
    except DomainError as err:
        fail(err)
    click.echo(f"Invited {user.role.value} {user.email} (id {user.id}): the link to choose a password works for "
               f"{int(invites.INVITE_TTL.total_seconds() // 3600)} hours.")


@users_cli.command("reactivate")
@click.argument("email")
@as_option
def reactivate_cmd(email: str, as_email: str | None) -> None:
    """Let a deactivated account sign in again."""
    actor = acting_admin(as_email)
    user = _account(email)
    try:
        services.set_active(actor=actor, user=user, active=True)
    except DomainError as err:
        fail(err)
    click.echo(f"Reactivated {user.email}.")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in services.ASSIGNABLE_ROLES]))
@as_option
def set_role_cmd(email: str, role: str, as_email: str | None) -> None:
    """Change an account's role; every session of the person ends (leaving staff also ends
    the queue memberships)."""
    actor = acting_admin(as_email)
    user = _account(email)
    try:
        services.change_role(actor=actor, user=user, role=role)
    except DomainError as err:
        fail(err)
    click.echo(f"{user.email} is now {user.role.value}.")


@users_cli.command("mfa-code")
@click.argument("email")
def mfa_code_cmd(email: str) -> None:
    """Print the account's current two-step sign-in code (development: sign in to `make run`)."""
    if current_app.config["HELPDESK"].is_production:
        raise click.ClickException("Not available in production: use the authenticator app.")
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No such account.")
    if not user.mfa_secret:
        raise click.ClickException("This account has no authenticator set up.")
    click.echo(mfa.current_code(user))


@users_cli.command("mfa-reset")
@click.argument("email")
def mfa_reset_cmd(email: str) -> None:
    """Clear an account's authenticator (lost phone); it is set up again at the next sign-in."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No such account.")
    try:
        mfa.reset(actor=None, user=user)
    except DomainError as err:
        _fail(err)
    click.echo(f"Two-step sign-in reset for {user.email}.")


@token_cli.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. 'patient-portal'.")
@click.option("--user", "user_email", default=None, help="Issue for an existing account instead.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice([s.value for s in Scope]),
              help="read, create or manage (repeat for several; default: all three).")
@click.option("--expires-days", type=int, default=365, show_default=True, help="Lifetime in days (1-730).")
@click.option("--no-expiry", is_flag=True, help="The token does not expire.")
def create_token_cmd(name: str, user_email: str | None, scopes: tuple[str, ...], expires_days: int,
                     no_expiry: bool) -> None:
    """Create a bearer token; it is printed once and only its hash is stored."""
    user = None
    if user_email:
        user = db.session.scalar(sa.select(User).where(User.email == user_email.strip().lower()))
        if user is None:
            raise click.ClickException("No such account.")
    try:
        token, secret = services.create_api_token(actor=None, name=name, user=user, scopes=scopes or None,
                                                  expires_in_days=None if no_expiry else expires_days)
    except DomainError as err:
        _fail(err)
    expires = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "does not expire"
    click.echo(f"Token {token.id} for {token.user.email} ({token.user.role.value}), scopes {token.scopes}, "
               f"{expires}. Store it now; it is not shown again:")
    click.echo(secret)


@token_cli.command("list")
def list_tokens_cmd() -> None:
    for t in db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)):
        expires = f"until {t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at and t.state == "active" else ""
        click.echo(f"{t.id:>4}  {t.prefix}…  {t.state:<8} [{t.scopes}] {expires} {t.name}  ({t.user.email})")


@token_cli.command("rotate")
@click.argument("token_id", type=int)
@click.option("--overlap-minutes", type=int, default=0, show_default=True,
              help="How long the old secret keeps working (0: revoked now; at most 1440).")
def rotate_token_cmd(token_id: int, overlap_minutes: int) -> None:
    """A new secret for a token (same name, account, scopes, lifetime); printed once."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException("No such token.")
    try:
        new, secret = services.rotate_api_token(actor=None, token=token, overlap_minutes=overlap_minutes)
    except DomainError as err:
        _fail(err)
    old = "revoked now" if overlap_minutes == 0 else f"works until {token.expires_at:%Y-%m-%d %H:%M} UTC"
    click.echo(f"Token {token_id} rotated: the old secret {old}. New token {new.id}; store it now, "
               "it is not shown again:")
    click.echo(secret)


@token_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_token_cmd(token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException("No such token.")
    try:
        services.revoke_api_token(actor=None, token=token)
    except DomainError as err:
        _fail(err)
    click.echo(f"Revoked token {token_id}.")


@jobs_cli.command("sweep")
def sweep_cmd() -> None:
    """Push outbox jobs that never reached Redis (or run them, in inline mode)."""
    n = jobs.sweep_outbox()
    click.echo(f"{n} job(s) dispatched; outbox now {jobs.outbox_counts()}")


def worker_cmd_factory():
    @click.command("worker")
    @click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
    def worker_cmd(burst: bool) -> None:
        """Run an RQ worker; each job runs inside this app's context."""
        settings = current_app.config["HELPDESK"]
        if settings.redis_url is None:
            raise click.ClickException("REDIS_URL is not set: jobs run inline in the web process.")
        logging.getLogger("rq.worker").setLevel(logging.INFO)
        while True:
            # Redis down at start (or lost while working): wait for it, don't exit
            jobs.wait_for_redis()
            jobs.sweep_outbox()  # anything left while Redis or the workers were down
            connection = jobs.redis_connection()
            # a SimpleWorker: jobs run in this process, which holds the app context (and a
            # database pool that is not shared across a fork); RQ's lines carry the request id
            worker = jobs.Worker([jobs.QUEUE_NAME], connection=connection)
            try:
                worker.work(burst=burst, with_scheduler=True)
                return
            except RedisError as exc:
                logging.getLogger(__name__).warning("redis lost (%s): the worker waits for it", type(exc).__name__)

    return worker_cmd


def scheduler_cmd_factory():
    @click.command("scheduler")
    def scheduler_cmd() -> None:
        """Run the periodic jobs (helpdesk.periodic.SCHEDULE): enqueued exactly once per period.

        With REDIS_URL: start one or more per deployment; the one holding the Redis lease
        enqueues each due run for the workers, the others stand by and take over when it
        dies. Without it (jobs inline, as in `make run`): exactly one, which runs the jobs
        in this process, each when due.
        """
        settings = current_app.config["HELPDESK"]
        logging.getLogger("helpdesk.periodic").setLevel(logging.INFO)
        try:
            schedule = periodic.load_schedule(settings.periodic_schedule)
        except (ImportError, AttributeError, TypeError) as exc:
            raise click.ClickException(f"PERIODIC_SCHEDULE {settings.periodic_schedule!r}: {type(exc).__name__}") from None
        if jobs.inline_mode():
            periodic.InlineScheduler(current_app._get_current_object(), schedule).run(install_signal_handlers=True)
            return
        periodic.LeasedScheduler(jobs.redis_connection(), schedule, lease_seconds=settings.scheduler_lease_seconds,
                                 retry_seconds=settings.scheduler_retry_seconds).run(install_signal_handlers=True)

    return scheduler_cmd


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option("--tickets", "n_tickets", default=200, show_default=True)
def seed_demo_cmd(if_empty: bool, n_tickets: int) -> None:
    """Load demo queues, users, tickets and a trained routing model."""
    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("Database already has data; demo seed skipped.")
        return
    demo.seed(n_tickets=n_tickets, echo=click.echo)


macros_cli = AppGroup("macros", help="Shared macros (canned responses).")


@macros_cli.command("seed")
def macros_seed_cmd() -> None:
    """Create the day-one shared macros (English and Spanish) in the queues that exist;
    macros already there (same queue, title and language) are kept as they are."""
    seed_macros(echo=click.echo)


def register_cli(app: Flask) -> None:
    app.cli.add_command(macros_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(worker_cmd_factory())
    app.cli.add_command(scheduler_cmd_factory())
    app.cli.add_command(seed_demo_cmd)
    app.cli.add_command(routing_cli)
    app.cli.add_command(sla_cli)

    app.cli.add_command(kb_cli)
    app.cli.add_command(i18n_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(storage_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(oncall_cli)
    app.cli.add_command(retention_cli)
    app.cli.add_command(patients_cli)
    app.cli.add_command(queues_cli)
    app.cli.add_command(webhooks_cli)
