"""``flask webhooks …``: register endpoints, rotate secrets, read and replay deliveries."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from helpdesk.errors import DomainError
from helpdesk.webhooks import services
from helpdesk.webhooks.events import EVENTS

webhooks_cli = AppGroup("webhooks", help="Webhook endpoints and their deliveries.")
EVENT_CHOICE = click.Choice(list(EVENTS))


def _fail(err: DomainError) -> None:
    details = "; ".join(f"{k}: {v}" for k, v in (err.fields or {}).items())
    raise click.ClickException(f"{err.message} {details}".strip())


def _endpoint(endpoint_id: int):
    try:
        return services.get_endpoint(endpoint_id)
    except DomainError as err:
        _fail(err)


@webhooks_cli.command("list")
def list_cmd() -> None:
    """Every endpoint: id, state, PHI, URL, events, deliveries pending/failed."""
    counts = services.delivery_counts()
    for e in services.endpoints():
        c = counts.get(e.id, {})
        click.echo(f"{e.id:>4}  {'active' if e.active else 'inactive':<8} {'PHI' if e.allow_phi else 'no-PHI':<6} "
                   f"{e.url}  [{', '.join(e.events)}]  pending {c.get('pending', 0)}, failed {c.get('failed', 0)}")


@webhooks_cli.command("events")
def events_cmd() -> None:
    """The events an endpoint can subscribe to."""
    for name, what in EVENTS.items():
        click.echo(f"{name:<24} {what}")


@webhooks_cli.command("create")
@click.option("--url", required=True, help="https:// address that receives the POSTs.")
@click.option("--event", "events", multiple=True, required=True, type=EVENT_CHOICE, help="Repeatable.")
@click.option("--description", default="", help="What the endpoint is, e.g. 'Bed management'.")
@click.option("--phi/--no-phi", default=False, show_default=True,
              help="May deliveries carry patient-written text (subject, message, survey comment)?")
def create_cmd(url: str, events: tuple[str, ...], description: str, phi: bool) -> None:
    """Register an endpoint; its signing secret is printed once."""
    try:
        endpoint, secret = services.create_endpoint(actor=None, url=url, events=events, description=description,
                                                    allow_phi=phi)
    except DomainError as err:
        _fail(err)
    click.echo(f"Webhook {endpoint.id} created for {endpoint.url}. Its signing secret (shown once, store it now):")
    click.echo(secret)


@webhooks_cli.command("update")
@click.argument("endpoint_id", type=int)
@click.option("--url", default=None)
@click.option("--event", "events", multiple=True, type=EVENT_CHOICE, help="Replaces the events; repeatable.")
@click.option("--description", default=None)
@click.option("--phi/--no-phi", default=None)
@click.option("--active/--inactive", default=None)
def update_cmd(endpoint_id: int, url: str | None, events: tuple[str, ...], description: str | None,
               phi: bool | None, active: bool | None) -> None:
    """Change an endpoint (only the options given)."""
    endpoint = _endpoint(endpoint_id)
    changes = {k: v for k, v in {"url": url, "description": description, "allow_phi": phi, "active": active,
                                 "events": list(events) or None}.items() if v is not None}
    try:
        services.update_endpoint(endpoint, actor=None, **changes)
    except DomainError as err:
        _fail(err)
    click.echo(f"Webhook {endpoint.id} updated.")


@webhooks_cli.command("disable")
@click.argument("endpoint_id", type=int)
def disable_cmd(endpoint_id: int) -> None:
    """Stop sending to an endpoint (its pending deliveries fail; replay them later)."""
    endpoint = _endpoint(endpoint_id)
    try:
        services.update_endpoint(endpoint, actor=None, active=False)
    except DomainError as err:
        _fail(err)
    click.echo(f"Webhook {endpoint.id} disabled.")


@webhooks_cli.command("rotate-secret")
@click.argument("endpoint_id", type=int)
def rotate_cmd(endpoint_id: int) -> None:
    """A new signing secret, in force at once; printed once."""
    endpoint = _endpoint(endpoint_id)
    try:
        secret = services.rotate_secret(endpoint, actor=None)
    except DomainError as err:
        _fail(err)
    click.echo(f"New signing secret of webhook {endpoint.id} (shown once, store it now):")
    click.echo(secret)


@webhooks_cli.command("deliveries")
@click.argument("endpoint_id", type=int)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
def deliveries_cmd(endpoint_id: int, limit: int) -> None:
    """An endpoint's latest deliveries: id, event, state, attempts, response, next retry, error."""
    endpoint = _endpoint(endpoint_id)
    rows, _next = services.deliveries(endpoint.id, limit=limit)
    for d in rows:
        nxt = d.next_attempt_at.isoformat(timespec="seconds") if d.next_attempt_at else "-"
        click.echo(f"{d.id:>6}  {d.event:<24} {d.status.value:<9} attempts {d.attempts}  "
                   f"HTTP {d.response_code or '-'}  next {nxt}  {d.last_error or ''}".rstrip())
    click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'} shown")


@webhooks_cli.command("replay")
@click.argument("delivery_id", type=int)
def replay_cmd(delivery_id: int) -> None:
    """Send a delivered or failed delivery again (same delivery id)."""
    try:
        delivery = services.replay(services.get_delivery(delivery_id), actor=None)
    except DomainError as err:
        _fail(err)
    click.echo(f"Delivery {delivery.id}: {delivery.status.value}")


@webhooks_cli.command("sweep")
def sweep_cmd() -> None:
    """Attempt the deliveries whose retry is due (what `flask scheduler` does every minute)."""
    click.echo(f"{services.sweep()} deliver(ies) attempted or enqueued")
