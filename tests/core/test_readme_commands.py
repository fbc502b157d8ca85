"""The docs' `flask` commands work as written after `make run`, on a fresh checkout.

A throw-away "checkout" (wsgi.py and the `.env` that `make run` writes, made by the
Makefile's own rule) gets a fresh instance, migrated and seeded as `make run` does.
Then every `flask` line of the shell blocks of README.md and of every docs/*.md page
(outside a *Production* section, which needs production secrets) runs there with the
virtual environment on PATH and must exit 0. The `flask` executable itself runs
`flask users list` (the failure of issue 14); the others go through the same flask CLI
group in one process, one command after another, to keep the test fast. A line in any
of these pages that the test doesn't know fails it, and so does a known line that no
page shows any more.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent

# README line (comment stripped) -> (arguments after `flask`, with placeholders filled in
# by the runner below, and what is typed at the prompts)
KNOWN: dict[str, tuple[str, str]] = {
    'flask users create --email a@example.org --name "A Agent" --role agent --queue billing':
        ('users create --email a@example.org --name "A Agent" --role agent --queue billing',
         "copper lantern meadow 42\ncopper lantern meadow 42\n"),
    "flask users list": ("users list", ""),
    'flask users invite --email new@example.org --name "N Agent" --role agent':
        ('users invite --email new@example.org --name "N Agent" --role agent', ""),
    "flask users set-role EMAIL ROLE": ("users set-role new@example.org supervisor", ""),
    "flask users deactivate EMAIL": ("users deactivate new@example.org", ""),
    "flask users reactivate EMAIL": ("users reactivate new@example.org", ""),
    "flask sla calendar-show ID": ("sla calendar-show 1", ""),
    "flask sla calendar-save FILE": ("sla calendar-save -", json.dumps(
        {"name": "Billing office", "timezone": "America/Chicago", "hours": {"mon": [["08:00", "12:00"]]},
         "presets": ["us-federal"], "holidays": ["2027-12-24"]})),
    "flask queues list": ("queues list", ""),
    "flask queues set SLUG --assignment round_robin --calendar ID":
        ("queues set billing --assignment round_robin --calendar 1", ""),
    # PATIENT and DUPLICATE: the first two accounts the first search lists; the runner fails
    # a sign-in on PATIENT before `unlock`, as a patient who forgot the password does
    "flask patients search TEXT": ("patients search example.net", ""),
    "flask patients search --birth-date YYYY-MM-DD": ("patients search --birth-date 1984-03-14", ""),
    "flask patients show ID": ("patients show {PATIENT}", ""),
    "flask patients unlock ID": ("patients unlock {PATIENT}", ""),
    "flask patients reset-password ID": ("patients reset-password {PATIENT}", ""),
    "flask patients deactivate ID": ("patients deactivate {PATIENT}", ""),
    "flask patients reactivate ID": ("patients reactivate {PATIENT}", ""),
    "flask patients merge DUPLICATE_ID SURVIVOR_ID": ("patients merge {DUPLICATE} {PATIENT}", "y\n"),
    "flask retention show": ("retention show", ""),
    "flask retention set closed_tickets 2555": ("retention set closed_tickets 2555", ""),
    "flask retention run --dry-run": ("retention run --dry-run", ""),
    "flask retention run": ("retention run", ""),
    "flask api-token create --name patient-portal": ("api-token create --name patient-portal", ""),
    "flask api-token create --name reports --scope read --expires-days 90":
        ("api-token create --name reports --scope read --expires-days 90", ""),
    "flask api-token list": ("api-token list", ""),
    "flask api-token rotate ID --overlap-minutes 60": ("api-token rotate {ID} --overlap-minutes 60", ""),
    "flask api-token revoke ID": ("api-token revoke {ID}", ""),
    "flask routing retrain": ("routing retrain", ""),
    "flask routing evaluate --csv FILE": ("routing evaluate --csv {FILE}", ""),
    "flask routing evaluate --holdback": ("routing evaluate --holdback", ""),
    "flask routing models": ("routing models", ""),
    "flask routing activate VERSION": ("routing activate {VERSION}", ""),
    "flask routing export VERSION model.npz": ("routing export {VERSION} model.npz", ""),
    "flask routing import model.npz": ("routing import model.npz", ""),
    "flask jobs sweep": ("jobs sweep", ""),
    "flask seed-demo --if-empty": ("seed-demo --if-empty", ""),
    "flask audit verify": ("audit verify", ""),
    "flask audit prune": ("audit prune", ""),
    "flask audit seal": ("audit seal", ""),
    "flask sla calendars": ("sla calendars", ""),
    "flask sla holidays CALENDAR --year 2027": ("sla holidays 1 --year 2027", ""),
    "flask sla policies": ("sla policies", ""),
    "flask --app wsgi audit verify": ("--app wsgi audit verify", ""),
    "flask kb load": ("kb load", ""),
    "flask kb grant-editor EMAIL": ("kb grant-editor {EMAIL}", ""),
    "flask kb revoke-editor EMAIL": ("kb revoke-editor {EMAIL}", ""),
    "flask kb reindex": ("kb reindex", ""),
    "flask kb stats --queue billing --days 30": ("kb stats --queue billing --days 30", ""),
    "flask macros seed": ("macros seed", ""),
    'flask i18n set-name queue billing es "Facturación"': ('i18n set-name queue billing es "Facturación"', ""),
    'flask i18n set-name kb_topic "Bills and payments" es "Facturas y pagos"':
        ('i18n set-name kb_topic "Bills and payments" es "Facturas y pagos"', ""),
    "flask i18n missing": ("i18n missing", ""),
    "flask oncall list": ("oncall list", ""),
    "flask oncall now": ("oncall now", ""),
    "flask oncall duty nurse@example.org shifts": ("oncall duty nurse@example.org shifts", ""),
    "flask oncall shift-add nurse@example.org fri 22:00 06:00": ("oncall shift-add nurse@example.org fri 22:00 06:00", ""),
    "flask oncall shift-remove 1": ("oncall shift-remove 1", ""),
    "flask oncall remove nurse@example.org": ("oncall remove nurse@example.org", ""),
    "flask oncall add nurse@example.org --mode on": ("oncall add nurse@example.org --mode on", ""),
    "flask oncall sweep": ("oncall sweep", ""),
    "flask storage import-files DIR": ("storage import-files .", ""),
    "flask storage check": ("storage check", ""),
    "flask webhooks events": ("webhooks events", ""),
    'flask webhooks create --url https://integrations.example.org/helpdesk --event ticket.created --event sla.breach --description "Bed management"':
        ('webhooks create --url https://integrations.example.org/helpdesk --event ticket.created --event sla.breach '
         '--description "Bed management"', ""),
    "flask webhooks list": ("webhooks list", ""),
    "flask webhooks rotate-secret 1": ("webhooks rotate-secret 1", ""),
    "flask webhooks deliveries 1": ("webhooks deliveries 1", ""),
    "flask webhooks disable 1": ("webhooks disable 1", ""),
    "flask webhooks sweep": ("webhooks sweep", ""),
}

# Runs inside the throw-away checkout: the flask CLI group (which loads .env like the
# `flask` executable), each command with its input, placeholders from earlier output.
RUNNER = r'''
import json, re, shlex, sys
from click.testing import CliRunner
from flask.cli import FlaskGroup

plan, csv_file = json.loads(sys.argv[1]), sys.argv[2]
values = {"FILE": csv_file, "EMAIL": "agent@example.org"}
results = []
for line, args, typed in plan:
    if "{ID}" in args:
        values["ID"] = re.search(r"^Token (\d+) for", last_token_output, re.M).group(1)
    if "{VERSION}" in args:
        values["VERSION"] = re.findall(r"^\S*\s*(\S+)", models_output, re.M)[-1].lstrip("*")
    if args.startswith("patients unlock"):
        # a patient mistypes the password once: there is a failed sign-in to forget
        from flask.cli import ScriptInfo
        from helpdesk.auth import services
        app = ScriptInfo().load_app()
        with app.test_request_context():
            services.authenticate(patient_email, "not the password")
    argv = shlex.split(args.format(**values))
    cli = FlaskGroup(name="flask")  # as the flask executable builds it (load_dotenv=True)
    result = CliRunner().invoke(cli, argv, input=typed, prog_name="flask", catch_exceptions=True)
    out = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        out += f"\n{type(result.exception).__name__}"
    if args.startswith("api-token create"):
        last_token_output = out
    if args == "routing models":
        models_output = out
    if args.startswith("patients search") and "PATIENT" not in values:
        found = re.findall(r"^(\d+)\t\S+\t(\S+)\t", out, re.M)
        (values["PATIENT"], patient_email), values["DUPLICATE"] = found[0], found[1][0]
    results.append({"line": line, "argv": argv, "exit": result.exit_code, "output": out[-1500:]})
print("RESULTS=" + json.dumps(results))
'''


def doc_pages() -> list[Path]:
    """What a newcomer reads: the README, then every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_flask_lines(page: Path) -> tuple[list[str], list[str]]:
    """The `flask …` lines of a page's shell blocks: (outside Production, inside it)."""
    lines, production, section, fence = [], [], "", None
    for raw in page.read_text().splitlines():
        if fence is None and raw.startswith("## "):
            section = raw[3:].strip()
        if raw.startswith("```"):
            fence = raw[3:].strip() if fence is None else None
            continue
        if fence != "sh":
            continue
        if raw.lstrip().startswith(("flask ", ".venv/bin/flask ")):
            # the line as written (its quoting kept), without its comment
            line = re.sub(r"\s+#.*$", "", raw).strip()
            (production if section == "Production" else lines).append(line)
    return lines, production


def readme_flask_lines() -> list[str]:
    """Every `flask …` line of the shell blocks of README.md and docs/*.md, outside the
    Production section, in page order."""
    return [line for page in doc_pages() for line in page_flask_lines(page)[0]]


def _env(instance: Path, checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPDESK_", "FLASK_")) and k not in (
               "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EXTERNAL_URL", "MODEL_DIR", "ATTACHMENT_DIR",
               "STORAGE_BACKEND", "STORAGE_DIR", "CLAMD_ADDRESS")}
    # what `. .venv/bin/activate` does, and an instance of the test's own
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(BIN.parent),
               HELPDESK_INSTANCE_PATH=str(instance), PYTHONPATH=str(checkout))
    return env


def _run(cmd: list[str], checkout: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_readme_knows_exactly_the_commands_this_test_runs():
    written = readme_flask_lines()
    assert len(written) == len(set(written)), "a command shown twice: show it on one page"
    unknown = {line: page.relative_to(ROOT).as_posix() for page in doc_pages()
               for line in page_flask_lines(page)[0] if line not in KNOWN}
    assert unknown == {}, "a command in the docs this test doesn't run: add it to KNOWN"
    assert sorted(set(KNOWN) - set(written)) == [], "KNOWN lists a command no page shows any more"


def test_only_the_production_section_is_left_out():
    """The one section the test skips is the production deployment (its commands need
    production secrets); it exists, and only there are `flask` lines left out."""
    skipped = {page.relative_to(ROOT).as_posix(): page_flask_lines(page)[1] for page in doc_pages()}
    holding = {name: lines for name, lines in skipped.items() if lines}
    assert list(holding) == ["docs/operations.md"]
    assert all("--app wsgi" in line for line in holding["docs/operations.md"])


def test_a_new_command_in_any_page_is_caught(tmp_path, monkeypatch):
    """A command added to a docs page (or the README) that the test doesn't know fails it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "README.md").write_text("# R\n\n```sh\nflask users list\n```\n")
    (docs / "x.md").write_text("# X\n\n## Production\n\n```sh\nflask nope\n```\n\n"
                               "## Elsewhere\n\n```sh\nflask frobnicate --all   # new\n```\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert readme_flask_lines() == ["flask users list", "flask frobnicate --all"]
    assert [line for line in readme_flask_lines() if line not in KNOWN] == ["flask frobnicate --all"]


def test_every_readme_command_works_as_written_after_make_run(tmp_path):
    checkout, instance = tmp_path / "checkout", tmp_path / "instance"
    checkout.mkdir()
    shutil.copy(ROOT / "wsgi.py", checkout / "wsgi.py")
    env = _env(instance, checkout)
    made = _run(["make", "--no-print-directory", "-s", "-f", str(ROOT / "Makefile"), "dev-env"], checkout, env)
    assert made.returncode == 0, made.stderr
    dotenv = (checkout / ".env").read_text()
    assert "HELPDESK_ENV=development" in dotenv and "FLASK_APP=wsgi" in dotenv

    # as `make run` does before serving (its own HELPDESK_ENV=development comes from .env here)
    for step in (["flask", "db", "upgrade"], ["flask", "seed-demo", "--if-empty"]):
        done = _run(step, checkout, env, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    # the `flask` executable, as typed in a shell with the virtual environment active
    listed = _run(["flask", "users", "list"], checkout, env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "admin@example.org" in listed.stdout and "SECRET_KEY" not in listed.stderr

    plan = [(line, *KNOWN[line]) for line in readme_flask_lines()]
    csv_file = tmp_path / "labelled.csv"
    shutil.copy(ROOT / "helpdesk" / "routing" / "corpus" / "eval.csv", csv_file)
    ran = _run([sys.executable, "-c", RUNNER, json.dumps(plan), str(csv_file)], checkout, env, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    results = json.loads(ran.stdout.rsplit("RESULTS=", 1)[1])
    failed = [(r["line"], r["exit"], r["output"]) for r in results if r["exit"] != 0]
    assert failed == []
    assert [r["line"] for r in results] == [p[0] for p in plan]


def test_a_production_host_still_refuses_to_start_without_its_secrets(tmp_path):
    """The checkout's .env says development, but an environment that says production wins
    (python-dotenv never overrides a variable that is set), and production needs secrets."""
    checkout, instance = tmp_path / "checkout", tmp_path / "instance"
    checkout.mkdir()
    shutil.copy(ROOT / "wsgi.py", checkout / "wsgi.py")
    (checkout / ".env").write_text("FLASK_APP=wsgi\nHELPDESK_ENV=development\n")
    env = _env(instance, checkout) | {"HELPDESK_ENV": "production"}
    refused = _run(["flask", "users", "list"], checkout, env)
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr
    # and without .env (a production host never runs `make run`) the default is production
    (checkout / ".env").write_text("FLASK_APP=wsgi\n")
    refused = _run(["flask", "users", "list"], checkout, _env(instance, checkout))
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr
