"""NIST SP 800-63B password rules (helpdesk.auth.password_rules): pure, no database."""

from __future__ import annotations

import pytest

from helpdesk.auth.password_rules import (
    PERSONAL,
    TOO_COMMON,
    TOO_LONG,
    check_password,
    common_passwords,
    password_problem,
    too_short,
)
from helpdesk.errors import ValidationFailed

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped


def problem(pw, **kw):
    found = password_problem(pw, **kw)
    return found[0] if found else None


def test_the_shipped_list_is_large_and_holds_the_usual_suspects():
    common = common_passwords()
    assert len(common) >= 10_000
    for pw in ("password", "12345678", "iloveyou", "sunshine", "football", "qwertyuiop"):
        assert pw in common


@pytest.mark.parametrize("pw", ["password", "PASSWORD", "Password", "12345678", "iloveyou", "Sunshine", "pass word"])
def test_common_passwords_are_refused_whatever_the_case(pw):
    assert problem(pw) == TOO_COMMON


@pytest.mark.parametrize("pw", [
    "correct horse battery",            # spaces
    "aaaaaaaa bbbb",                   # no composition rules: no digit, no capital, no symbol
    "contraseña de invierno",          # accents
    "我的密码很安全吗",                     # CJK, 8 characters
    "🐢🐢🐢🐢 slow and steady",            # emoji
    "x" * 64,                          # NIST: allow at least 64
    "y" * 128,
])
def test_long_passphrases_of_any_characters_are_accepted(pw):
    assert problem(pw) is None
    assert check_password(pw) == pw  # returned unchanged: nothing stripped or normalised


def test_length_limits():
    assert problem("seven77") == too_short()
    assert problem("") == too_short()
    assert problem(None) == too_short()
    assert problem(12345678) == too_short()  # not text
    assert problem("z" * 129) == TOO_LONG


def test_the_users_name_address_and_the_product_name_are_refused():
    kw = {"email": "maria.lopez84@example.org", "name": "Maria Lopez"}
    assert problem("maria's garden gate", **kw) == PERSONAL
    assert problem("the LOPEZ family 1984", **kw) == PERSONAL
    assert problem("xx maria.lopez84 xx", **kw) == PERSONAL      # the whole local part
    assert problem("My Riverside account!", **kw) == PERSONAL
    assert problem("help-desk-is-great", **kw) == PERSONAL        # product name with punctuation
    assert problem("quiet autumn evenings", **kw) is None
    # short name parts are not checked: "Li" would refuse too many passwords
    assert problem("a little lizard", email="li@example.org", name="Li Wei") is None


def test_check_password_raises_a_field_error():
    with pytest.raises(ValidationFailed) as err:
        check_password("password1", email="a@example.org")
    assert err.value.fields == {"password": [TOO_COMMON]}
