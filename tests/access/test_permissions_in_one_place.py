"""Every access rule lives in helpdesk/permissions.py (issue 15, item 2).

Over the source's ``ast``, outside permissions.py this fails on:

* a comparison of ``<something>.role`` with a ``Role`` member (``==``, ``!=``, ``in``,
  ``not in`` a tuple/list/set of them) — who-may-do-what is a named predicate there;
* a function named ``can_*``, ``may_*`` or ``is_allowed*`` — a permission predicate
  defined somewhere else;
* any ``<something>.is_staff`` outside permissions.py and ``auth/models.py`` (where the
  property is defined) — "staff only" is a rule too, so it is named there.

``ALLOWED`` lists the few role comparisons that decide no access (what a page *says*, a
query's filter, a default), each with its reason; a stale entry fails too, so the list
only shrinks. ``STAFF_ALLOWED`` does the same for ``.is_staff``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "helpdesk"
PERMISSIONS = ROOT / "permissions.py"
PREDICATE_PREFIXES = ("can_", "may_", "is_allowed")

# (module relative to helpdesk/, enclosing function) -> why this role comparison is not an access rule
ALLOWED: dict[tuple[str, str], str] = {
    ("admin/views.py", "users"): "the users page counts patients (a query's filter)",
    ("cli.py", "list_users_cmd"): "the CLI lists staff and counts patients (a query's filter)",
    ("auth/services.py", "staff_accounts"): "the users page and the admin users API list staff and integration "
                                            "accounts (a query's filter)",
    ("api/admin_users.py", "_account"): "patients are not accounts of the admin users API (404: which table of accounts)",
    ("auth/identity.py", "_claimed_account"): "finds the patient account an address belongs to (a lookup)",
    ("notify/services.py", "queue_supervisors"): "whom to notify: a queue's supervisors (a recipient list)",
    ("clinical/services.py", "_managers"): "why a person was alerted (supervisor or admin), stored on the alert",
    ("demo.py", "seed"): "finds the demo's portal integration account (a lookup)",
    ("i18n/__init__.py", "select_locale"): "which language a page speaks (i18n must not import permissions: circle)",
    ("notify/views.py", "audit_download"): "whose downloads are audited (staff, integrations): audit policy, not access",
    ("admin/patients.py", "_patients"): "the patient-accounts pages list patients only (a query's filter; admins only, by the view)",
    ("admin/views.py", "patient_merge"): "finds the patient account to keep by its address (a lookup)",
}

# (module relative to helpdesk/, enclosing function) -> why this `.is_staff` decides no access
STAFF_ALLOWED: dict[tuple[str, str], str] = {
    ("api/admin_users.py", "_out"): "whether an account shows an invitation pending (what the API says)",
    ("auth/sessions.py", "idle_limit"): "how long an idle session lasts (staff and patients differ), not who may sign in",
    ("auth/sessions.py", "_say_why"): "which language the sign-out notice speaks",
    ("auth/services.py", "change_role"): "a role change to a non-staff role drops queue memberships (data kept consistent)",
    ("notify/services.py", "add_notifications"): "whom a notification is also e-mailed to (routing)",
    ("notify/views.py", "audit_download"): "whose downloads are audited (staff, integrations): audit policy, not access",
    ("tickets/models.py", "from_staff"): "who wrote a message (a fact about the author), not who may see it",
    ("tickets/presence.py", "others"): "whose presence a ticket page shows (display of who else is looking)",
    ("tickets/services.py", "record_staff_view"): "which reads are audited (staff views): audit policy, not access",
    ("auth/invites.py", "resend_invite"): "an invitation goes to a staff account with no password yet (what it applies to; "
                                          "who may send it is require_admin)",
}
STAFF_EXEMPT = (ROOT / "auth" / "models.py",)  # defines the property


def _is_role_member(node: ast.AST) -> bool:
    """``Role.X`` (or ``models.Role.X``)."""
    return isinstance(node, ast.Attribute) and (
        (isinstance(node.value, ast.Name) and node.value.id == "Role")
        or (isinstance(node.value, ast.Attribute) and node.value.attr == "Role"))


def _mentions_role_members(node: ast.AST) -> bool:
    if _is_role_member(node):
        return True
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_is_role_member(e) for e in node.elts)


def _is_role_attr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "role"


def _findings(path: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]:
    """(role comparisons as (enclosing function, line), predicate definitions as (name, line),
    ``.is_staff`` reads as (enclosing function, line))."""
    tree = ast.parse(path.read_text(), filename=str(path))
    comparisons: list[tuple[str, int]] = []
    predicates: list[tuple[str, int]] = []
    staff_reads: list[tuple[str, int]] = []

    def visit(node: ast.AST, func: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith(PREDICATE_PREFIXES):
                predicates.append((node.name, node.lineno))
            func = node.name
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_role_attr(o) for o in operands) and any(_mentions_role_members(o) for o in operands):
                comparisons.append((func, node.lineno))
        if isinstance(node, ast.Attribute) and node.attr == "is_staff":
            staff_reads.append((func, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, "<module>")
    return comparisons, predicates, staff_reads


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p != PERMISSIONS)


def test_no_access_rule_outside_permissions():
    role_rules, predicates, seen = [], [], set()
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        comparisons, defs, _ = _findings(path)
        for func, line in comparisons:
            if (rel, func) in ALLOWED:
                seen.add((rel, func))
            else:
                role_rules.append(f"{rel}:{line} in {func}()")
        predicates += [f"{rel}:{line} def {name}()" for name, line in defs]
    assert not role_rules, "role comparisons outside helpdesk/permissions.py (name the rule there):\n" + "\n".join(
        role_rules)
    assert not predicates, "permission predicates outside helpdesk/permissions.py:\n" + "\n".join(predicates)
    assert not ALLOWED.keys() - seen, f"stale ALLOWED entries: {sorted(ALLOWED.keys() - seen)}"


def test_the_checker_sees_what_it_must(tmp_path):
    """The detector itself: each form it must catch, and what it must leave alone."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def a(u):\n    return u.role == Role.ADMIN\n"
        "def b(u):\n    return u.role not in (Role.AGENT, Role.ADMIN)\n"
        "def c(u):\n    return Role.PATIENT != u.role\n"
        "def can_do(u):\n    return True\n"
        "def may_do(u):\n    return True\n"
        "def d(u):\n    return u.role.value\n"
        "def e(u):\n    return u.kind == Kind.ADMIN\n"
    )
    comparisons, predicates, staff_reads = _findings(sample)
    assert [f for f, _ in comparisons] == ["a", "b", "c"]
    assert [n for n, _ in predicates] == ["can_do", "may_do"]
    assert staff_reads == []


def test_no_staff_check_outside_permissions():
    """``.is_staff`` is read only in permissions.py (and where it is defined), apart from
    the ``STAFF_ALLOWED`` uses that decide no access."""
    found, seen = [], set()
    for path in _modules():
        if path in STAFF_EXEMPT:
            continue
        rel = path.relative_to(ROOT).as_posix()
        for func, line in _findings(path)[2]:
            if (rel, func) in STAFF_ALLOWED:
                seen.add((rel, func))
            else:
                found.append(f"{rel}:{line} in {func}()")
    assert not found, "`.is_staff` outside helpdesk/permissions.py (name the rule there):\n" + "\n".join(found)
    assert not STAFF_ALLOWED.keys() - seen, f"stale STAFF_ALLOWED entries: {sorted(STAFF_ALLOWED.keys() - seen)}"


def test_the_staff_checker_sees_what_it_must(tmp_path):
    """Every read of ``.is_staff`` (a test, a condition, a return value, a chained one) and
    nothing else (a name, a call of something else, a string)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def a(u):\n    if not u.is_staff:\n        raise Forbidden('no')\n"
        "def b(u):\n    return u.active and u.is_staff\n"
        "def c(m):\n    return [x for x in m if x.author.is_staff]\n"
        "def d(role):\n    return role.is_staff\n"
        "def e(u, is_staff):\n    return is_staff or u.staff or 'is_staff'\n"
    )
    assert [f for f, _ in _findings(sample)[2]] == ["a", "b", "c", "d"]


TEMPLATES = ROOT.parent / "templates"
# a role or staff test inside a template's {% if %} / {% elif %}: pages decide by the named predicates
# (helpdesk.permissions.TEMPLATE_PREDICATES), never by comparing roles themselves
_TEMPLATE_RULE = re.compile(r"{%-?\s*(?:el)?if\b[^%]*(?:\.is_staff\b|\.role\b|\bRole\.)[^%]*%}")


# (template, tag) -> why this role test decides no access
TEMPLATE_ALLOWED: dict[tuple[str, str], str] = {
    ("admin/users.html", "{% if r == u.role %}"): "marks the user's current role as selected in the role menu",
}


def template_rules(text: str) -> list[str]:
    return _TEMPLATE_RULE.findall(text)


def test_templates_decide_access_through_named_predicates():
    found = {(str(p.relative_to(TEMPLATES)), hit) for p in sorted(TEMPLATES.rglob("*.html"))
             for hit in template_rules(p.read_text())}
    assert sorted(found - set(TEMPLATE_ALLOWED)) == []
    assert sorted(set(TEMPLATE_ALLOWED) - found) == [], "a stale TEMPLATE_ALLOWED entry"


def test_the_template_detector_sees_role_tests_and_lets_predicates_pass():
    assert template_rules("{% if current_user.is_staff %}x{% endif %}")
    assert template_rules("{% elif u.role == Role.SUPERVISOR %}")
    assert template_rules("{%- if u.role.value != 'integration' -%}")
    assert not template_rules("{% if can_use_staff_pages(current_user) %}")
    assert not template_rules("<td>{{ u.role.value|capitalize }}</td>")  # showing a role decides nothing
