"""The install is reproducible: every dependency is pinned, with hashes, in the lock
files; a production install (requirements/runtime.txt) holds no test tools; the
development lock agrees with the runtime one on every package they share."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _lock(name: str) -> dict[str, str]:
    """{canonical name: version} of a lock file; fails on a line pinned without hashes."""
    text = (ROOT / "requirements" / name).read_text()
    pins: dict[str, str] = {}
    # one requirement per logical line (continuation lines carry the hashes)
    for entry in re.split(r"(?<!\\)\n(?!\s)", text):
        first = entry.strip().splitlines()[0] if entry.strip() else ""
        if not first or first.startswith("#"):
            continue
        match = PIN.match(first)
        assert match, f"{name}: not an exact pin: {first!r}"
        assert "--hash=sha256:" in entry, f"{name}: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_every_runtime_dependency_is_pinned_with_hashes_and_satisfies_pyproject():
    runtime = _lock("runtime.txt")
    for spec in _project()["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in runtime, f"{req.name} is missing from requirements/runtime.txt: run `make lock`"
        assert req.specifier.contains(runtime[name], prereleases=True), (
            f"requirements/runtime.txt pins {req.name}=={runtime[name]}, pyproject asks {req.specifier}: run `make lock`")


def test_the_development_lock_adds_the_dev_tools_and_agrees_with_the_runtime_lock():
    runtime, dev = _lock("runtime.txt"), _lock("dev.txt")
    for spec in _project()["optional-dependencies"]["dev"]:
        req = Requirement(spec)
        assert canonicalize_name(req.name) in dev, f"{req.name} is missing from requirements/dev.txt: run `make lock`"
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: runtime lock {version}, dev lock {dev.get(name)}"


def test_a_production_install_carries_no_test_tools():
    runtime = _lock("runtime.txt")
    tools = [canonicalize_name(Requirement(s).name) for s in _project()["optional-dependencies"]["dev"]]
    assert not [t for t in tools if t in runtime]
