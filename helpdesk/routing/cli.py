"""flask routing …: retrain, evaluate, list and activate model versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk.errors import DomainError
from helpdesk.routing import evaluation
from helpdesk.routing.services import model_cache

routing_cli = AppGroup("routing", help="The request router's models.")


class _Progress:
    def __init__(self, total: int) -> None:
        self.bar = tqdm(total=total, desc="retrain", unit="step", file=sys.stderr, leave=True)

    def __call__(self, step: str) -> None:
        self.bar.set_postfix_str(step[:40])
        if self.bar.n < self.bar.total:
            self.bar.update(1)

    def close(self) -> None:
        self.bar.n = self.bar.total
        self.bar.refresh()
        self.bar.close()


@routing_cli.command("retrain")
@click.option("--force", is_flag=True, help="Promote even if the new model regresses.")
@click.option("--seed", default=0, show_default=True)
def retrain_cmd(force: bool, seed: int) -> None:
    """Train a new version from the corpus plus agents' labels; promote it unless it regresses."""
    from helpdesk.routing.training import retrain  # lazy: training imports scikit-learn; the CLI loads with every app

    progress = _Progress(total=15)
    try:
        report = retrain(force=force, seed=seed, progress=progress)
    finally:
        progress.close()
    h, e = report.holdout, report.project_eval
    click.echo(f"examples: {report.n_examples} ({report.n_corpus} corpus + {report.n_tickets} labelled tickets, de-identified)")
    click.echo(f"held-out (copy): macro-F1 {h['macro_f1']:.3f}  accuracy {h['accuracy']:.3f}  "
               f"coverage {h['coverage']:.3f}  auto-accuracy {h['auto_accuracy']:.3f}  (n={h['n']})")
    click.echo(f"yardstick:       macro-F1 {e['macro_f1']:.3f}  accuracy {e['accuracy']:.3f}  "
               f"coverage {e['coverage']:.3f}  auto-accuracy {e['auto_accuracy']:.3f}  (n={e['n']})")
    if report.baseline:
        b = report.baseline
        click.echo(f"active model {b['version']} on the yardstick: macro-F1 {b['project_eval']['macro_f1']:.3f}  "
                   f"auto-accuracy {b['project_eval']['auto_accuracy']:.3f}")
    if report.per_queue:
        click.echo("per queue on the yardstick (precision / recall):  before -> after")
        for queue, pr in sorted(report.per_queue.items()):
            before = pr.get("before")
            was = f"{before['precision']:.3f} / {before['recall']:.3f}" if before else "      —      "
            now = pr["after"]
            click.echo(f"  {queue:<16} {was}  ->  {now['precision']:.3f} / {now['recall']:.3f}")
    verdict = "PROMOTED" if report.promoted else "NOT promoted"
    click.echo(f"{report.version}: {verdict} ({report.reason})")


@routing_cli.command("evaluate")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CSV with columns text,queue (and optionally pattern).")
@click.option("--holdback", is_flag=True, help="The project's held-back templated slice (never trained on).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_cmd(csv_path: Path | None, holdback: bool, as_json: bool) -> None:
    """Evaluate the active model on a CSV with columns text,queue; with a pattern column
    (the held-back slice has one) also per pattern."""
    if holdback == (csv_path is not None):
        raise click.UsageError("Give either --csv FILE or --holdback.")
    if csv_path is None:
        csv_path = Path(__file__).resolve().parent / "corpus" / "holdback.csv"
    router = model_cache.get()
    if router is None:
        raise click.ClickException(f"No usable model: {model_cache.error}. Run 'flask routing retrain'.")
    try:
        texts, labels = evaluation.read_labelled_csv(csv_path, known_labels=list(router.labels))
    except evaluation.CorpusFormatError as err:
        raise click.ClickException(str(err)) from None
    settings = current_app.config["HELPDESK"]
    th, mg = settings.routing_threshold, settings.routing_margin
    result = evaluation.evaluate(router, texts, labels, th, mg)
    patterns = evaluation.read_column(csv_path, "pattern")
    if patterns is not None and len(patterns) == len(texts):
        result["per_pattern"] = evaluation.accuracy_by_group(router, texts, labels, patterns, th, mg)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"model {model_cache.version} on {csv_path.name}")
        click.echo(evaluation.format_report(result))
        if "per_pattern" in result:
            click.echo("")
            click.echo(evaluation.format_groups(result["per_pattern"]))


@routing_cli.command("models")
def models_cmd() -> None:
    """List model versions (* = active) with their id, size and metrics."""
    from helpdesk.routing.training import list_models  # lazy: training imports scikit-learn

    rows = list_models()
    if not rows:
        click.echo("No models yet. Run 'flask routing retrain'.")
    for m in rows:
        ev = (m.metrics or {}).get("project_eval", {})
        stored = f"{m.size / 1e6:.1f} MB sha256 {m.sha256[:12]}" if m.sha256 and m.size else f"NOT USABLE: {m.note}"
        click.echo(f"{'*' if m.active else ' '} {m.version}  id={m.id}  {m.created_at:%Y-%m-%d %H:%M}  "
                   f"n={m.n_examples:<6} eval macro-F1={ev.get('macro_f1', 0):.3f} "
                   f"coverage={ev.get('coverage', 0):.3f}  {stored}")


@routing_cli.command("activate")
@click.argument("version")
def activate_cmd(version: str) -> None:
    """Make VERSION (a name or an id from 'routing models') the active model: roll back
    or forward. Every process loads it within ROUTING_MODEL_RECHECK_SECONDS."""
    from helpdesk.routing.training import activate  # lazy: training imports scikit-learn

    try:
        row = activate(version)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"{row.version} (id {row.id}) is now active.")


@routing_cli.command("export")
@click.argument("version")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_cmd(version: str, path: Path) -> None:
    """Write the stored model VERSION (name or id) to PATH, for another deployment."""
    from helpdesk.routing.training import export_model  # lazy: training imports scikit-learn

    try:
        row = export_model(version, path)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"{row.version} written to {path} ({row.size} bytes, sha256 {row.sha256}).")


@routing_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_cmd(path: Path) -> None:
    """Store the model file PATH (from 'routing export') as an inactive version."""
    from helpdesk.routing.training import import_model  # lazy: training imports scikit-learn

    try:
        row, created = import_model(path)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    verdict = "stored" if created else "already stored"
    click.echo(f"{row.version} (id {row.id}) {verdict}; 'flask routing activate {row.id}' makes it active.")
