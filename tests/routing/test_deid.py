"""De-identification: identifiers become placeholders, ordinary words stay."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.routing.deid import deidentify

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # e-mail
        ("email me at john.doe+portal@gmail.com please", "email me at [EMAIL] please"),
        ("correo: maria_lopez@hospital.example.org.", "correo: [EMAIL]."),
        # phones
        ("call me at (555) 123-4567", "call me at [PHONE]"),
        ("555-123-4567 or 555.123.4567 or 555 123 4567", "[PHONE] or [PHONE] or [PHONE]"),
        ("mi cel +1 555 222 3333", "mi cel [PHONE]"),
        ("1-800-555-1234 ext 12", "[PHONE]"),
        ("5551234567", "[PHONE]"),
        # dates
        ("born 03/14/1985", "born [DATE]"),
        ("seen on 2024-01-02 and 3-14-85", "seen on [DATE] and [DATE]"),
        ("on March 3, 2024 at noon", "on [DATE] at noon"),
        ("since Mar 3rd", "since [DATE]"),
        ("from 3 March 2024", "from [DATE]"),
        ("back in March 2024", "back in [DATE]"),
        ("nací el 3 de marzo de 1980", "nací el [DATE]"),
        ("la cita del 5 de mayo", "la cita del [DATE]"),
        # record numbers
        ("my MRN: A1234567", "my MRN: [MRN]"),
        ("mrn 987654 please", "mrn [MRN] please"),
        ("número de expediente 55-1234", "número de expediente [MRN]"),
        ("patient id #ZX99-12", "patient id #[MRN]"),
        ("account 12345678", "account [MRN]"),
        # card-like numbers and SSNs
        ("card 4111 1111 1111 1111", "card [NUMBER]"),
        ("card 4111-1111-1111-1111.", "card [NUMBER]."),
        ("ssn 123-45-6789", "ssn [NUMBER]"),
        # introductions
        ("Hi, my name is John Smith and I can't log in", "Hi, my name is [NAME] and I can't log in"),
        ("my name is maria lopez necesito ayuda", "my name is [NAME] necesito ayuda"),
        ("Me llamo José García y necesito ayuda", "Me llamo [NAME] y necesito ayuda"),
        ("Hola, soy Ana y no puedo entrar", "Hola, soy [NAME] y no puedo entrar"),
        ("I'm Sarah, thanks", "I'm [NAME], thanks"),
        ("This is Robert Chen calling about a bill", "This is [NAME] calling about a bill"),
    ],
)
def test_identifiers_are_replaced(text: str, expected: str):
    assert deidentify(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I can't log in to the portal",
        "this is about my bill",
        "I'm Trying to pay online",  # capitalised, but not a name
        "I may 2 things wrong",  # the verb, not the month
        "zip 90210, 5 mg twice a day, version 1.2, room 12",
        "Soy paciente nuevo",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str):
    assert deidentify(text) == text


def test_known_names_whole_words_case_and_accent_insensitive():
    text = "Tell JOSE GARCIA that José García called; García too. Garciaville is a town."
    assert deidentify(text, names=["José García", "José", "García"]) == (
        "Tell [NAME] that [NAME] called; [NAME] too. Garciaville is a town."
    )


def test_name_parts_that_are_ordinary_words_are_ignored():
    text = "Necesito la copia de mi expediente para María"
    out = deidentify(text, names=["María de la Cruz", "María", "de", "la", "Cruz", "", " ", "A"])
    assert out == "Necesito la copia de mi expediente para [NAME]"


def test_names_are_not_matched_inside_words():
    assert deidentify("Annual checkup for Ann", names=["Ann"]) == "Annual checkup for [NAME]"


def test_everything_at_once():
    text = (
        "Hi, my name is Jane Roe (MRN: 00123456), DOB 01/02/1980. Call 555-867-5309 or "
        "jane@example.com. Card 4242 4242 4242 4242 was charged on June 5, 2024."
    )
    assert deidentify(text) == (
        "Hi, my name is [NAME] (MRN: [MRN]), DOB [DATE]. Call [PHONE] or [EMAIL]. Card [NUMBER] was charged on [DATE]."
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(max_size=12), max_size=3))
def test_never_raises_and_is_stable(text: str, names: list[str]):
    once = deidentify(text, names=names)
    assert isinstance(once, str)
    assert deidentify(once, names=names) == once


@pytest.mark.parametrize(
    "text",
    ["555-" * 100_000, "1" * 500_000, "a@" * 100_000, "my name is " * 20_000, "a." * 200_000],
)
def test_pathological_inputs_stay_fast(text: str):
    start = time.perf_counter()
    deidentify(text, names=["John Smith"])
    assert time.perf_counter() - start < 2.0
