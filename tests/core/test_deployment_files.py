"""The deployment files describe the production shape and name only commands that exist.

No Docker daemon runs on the test machines, so the image is not built here; these tests
hold the files to what the multi-host test (tests/e2e/test_multi_host.py) runs for real:
the same processes, the same commands, runtime dependencies from the hashed lock."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from flask.cli import FlaskGroup

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _flask_commands() -> list[list[str]]:
    """Every `flask …` invocation in compose.yaml, the Procfile and the systemd units."""
    found: list[list[str]] = []
    for service in _compose()["services"].values():
        command = service.get("command")
        if command and command[0] == "flask":
            found.append(command[1:])
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            words = shlex.split(line.split(":", 1)[1])
            if words and words[0] == "flask":
                found.append(words[1:])
    for unit in (ROOT / "deploy" / "systemd").glob("*.service"):
        for match in re.finditer(r"^ExecStart=\S*/flask (.+)$", unit.read_text(), re.M):
            found.append(shlex.split(match.group(1)))
    return found


def test_compose_runs_two_web_hosts_behind_a_proxy_two_workers_and_a_standby_scheduler():
    services = _compose()["services"]
    web = [name for name, s in services.items() if (s.get("command") or [""])[0] == "gunicorn"]
    assert len(web) >= 2
    proxy_conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert all(f"server {name}:8000" in proxy_conf for name in web)
    assert services["worker"]["command"] == ["flask", "worker"] and services["worker"]["deploy"]["replicas"] >= 2
    assert services["scheduler"]["command"] == ["flask", "scheduler"]
    assert services["scheduler"]["deploy"]["replicas"] == 2
    assert {"db", "redis", "mail", "proxy", "migrate"} <= set(services)
    # one proxy hop, and the app trusts exactly that many
    assert services["web1"]["environment"]["TRUSTED_PROXIES"] == "1"
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in proxy_conf
    # no app container mounts a volume: nothing is shared through a disk
    for name in [*web, "worker", "scheduler"]:
        assert "volumes" not in services[name], name


def test_the_image_runs_as_an_unprivileged_user_with_runtime_dependencies_from_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2  # build stage and runtime stage
    assert "--require-hashes -r requirements/runtime.txt" in dockerfile
    assert "dev" not in re.findall(r"requirements/(\w+)\.txt", dockerfile)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}


def test_every_process_the_deployment_files_start_is_a_real_command(app):
    commands = _flask_commands()
    assert {c[0] for c in commands} >= {"worker", "scheduler", "db"}
    cli = FlaskGroup(create_app=lambda: app)  # the `flask` command, with its plugins (flask db)
    runner = CliRunner()
    for command in commands:
        # --help parses the whole command line without running it
        result = runner.invoke(cli, [*command, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, f"flask {' '.join(command)}: {result.output}"


@pytest.mark.parametrize("name", ["helpdesk-web.service", "helpdesk-worker@.service", "helpdesk-scheduler.service"])
def test_systemd_units_run_unprivileged_from_the_checkout(name):
    unit = (ROOT / "deploy" / "systemd" / name).read_text()
    assert "User=helpdesk" in unit and "EnvironmentFile=/etc/helpdesk/helpdesk.env" in unit
    assert "WorkingDirectory=/opt/helpdesk" in unit
