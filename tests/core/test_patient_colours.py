"""The colours of app.css meet WCAG 2.1 AA contrast where patients read them: text
≥ 4.5:1 on the backgrounds it sits on, and the focus ring and field borders ≥ 3:1
(1.4.11, non-text contrast), which axe's page checks don't measure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped

CSS = (Path(__file__).resolve().parents[2] / "helpdesk" / "static" / "app.css").read_text()
VARS = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def colour(value: str) -> str:
    return VARS[value[2:]] if value.startswith("--") else value


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(colour(a)), luminance(colour(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def focus_ring() -> str:
    return re.search(r":focus-visible\s*\{[^}]*outline:\s*\d+px solid (#[0-9a-fA-F]{6})", CSS).group(1)


def status_colours() -> dict[str, str]:
    return {name: value for name, value in re.findall(r"\.status-(\w+)\s*\{\s*color:\s*(#[0-9a-fA-F]{6}|var\(--[\w-]+\))", CSS)}


TEXT = [("--ink", "--bg"), ("--ink", "#ffffff"), ("--muted", "--bg"), ("--muted", "#ffffff"), ("--brand", "--bg"),
        ("--brand", "#ffffff"), ("#ffffff", "--brand"), ("#ffffff", "--brand-dark"), ("--bad", "#ffffff"),
        ("--bad", "#fdecea"), ("--ink", "#e8f0fb"), ("--ink", "#e7f4ea"), ("--ink", "#fdecea")]


@pytest.mark.parametrize(("fg", "bg"), TEXT)
def test_text_contrast(fg, bg):
    assert contrast(fg, bg) >= 4.5


@pytest.mark.parametrize("name", ["new", "open", "pending_patient", "resolved", "closed"])
def test_patient_status_badges_are_readable(name):
    value = status_colours()[name]
    fg = value.replace("var(", "").rstrip(")")
    assert contrast(fg, "#ffffff") >= 4.5 and contrast(fg, "--bg") >= 4.5


@pytest.mark.parametrize("bg", ["#ffffff", "--bg", "#e8f0fb", "#fdecea"])
def test_focus_ring_stands_out(bg):
    assert contrast(focus_ring(), bg) >= 3


def test_field_borders_stand_out():
    border = re.search(r"textarea, select \{[^}]*border:1px solid (#[0-9a-fA-F]{6})", CSS).group(1)
    assert contrast(border, "#ffffff") >= 3 and contrast(border, "--bg") >= 3


def test_the_contrast_formula():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54
    assert contrast("#f0a500", "#ffffff") < 3  # the old focus colour would fail
