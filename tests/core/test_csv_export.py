"""Every CSV cell a spreadsheet would run as a formula is made text."""

from __future__ import annotations

import csv
import io

import pytest

from helpdesk.csv_export import dict_rows_to_csv, safe_cell

pytestmark = pytest.mark.pure


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_that_starts_a_formula_gets_an_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "", " =not at the start", -5, 3.5, None, "a=b"])
def test_other_values_are_left_alone(value):
    assert safe_cell(value) == value


def test_a_table_round_trips_with_formula_text_made_safe():
    rows = [{"name": "=cmd|' /C calc'!A0", "count": -1}, {"name": "Ana", "count": 2}]
    parsed = list(csv.DictReader(io.StringIO(dict_rows_to_csv(rows))))
    assert parsed == [{"name": "'=cmd|' /C calc'!A0", "count": "-1"}, {"name": "Ana", "count": "2"}]
    assert dict_rows_to_csv([]) == ""
