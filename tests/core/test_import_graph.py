"""The import graph of helpdesk/: no circles, and no imports hidden inside functions.

Every import of a helpdesk module is an edge, whether it sits at module level or inside a
function (a function-level import only hides a circle, it does not remove it). Imports
guarded by ``if TYPE_CHECKING:`` are not edges. ``from helpdesk.x import y`` where ``y`` is
a submodule is an edge to ``helpdesk.x.y``.

A function-level import is allowed only where a heavy optional dependency must load lazily
(or a framework cycle cannot be avoided), and each one carries a ``#`` comment saying why.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "helpdesk"

# The ceiling of function-level imports (helpdesk modules and third-party modules; the
# standard library is not counted). The issue allows 20; 19 remain, loading scikit-learn/
# numpy lazily, keeping the package init light, and loading single sign-on's Authlib stack
# (3) and the webhooks' httpx (1) only where they are used, which keeps every web process
# ~17 MB smaller (bench/routing.py's web-worker RSS). Lower it when one goes.
MAX_FUNCTION_LEVEL_IMPORTS = 19


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Yield (import node, inside_function) for every import not guarded by TYPE_CHECKING."""

    def walk(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    yield from walk_one(sub, in_function)
                continue
            yield from walk_one(child, in_function)

    def walk_one(node: ast.AST, in_function: bool):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
            return
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from walk(node, inner)

    yield from walk(tree, False)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]):
    """The absolute module names an import statement names (helpdesk or not)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    names = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        names.append(sub if sub in known else target)
    return names


def _graph():
    modules = _modules()
    known = set(modules)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    function_level: list[tuple[str, int, str, bool]] = []
    for module, path in modules.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _imports(tree):
            targets = _targets(node, module, is_package, known)
            for target in targets:
                # the nearest known module (``helpdesk.x.y.name`` → ``helpdesk.x.y``)
                parts = target.split(".")
                while parts and ".".join(parts) not in known:
                    parts.pop()
                if parts and ".".join(parts) != module:
                    edges[module].add(".".join(parts))
            if in_function:
                top = targets[0].split(".")[0] if targets else ""
                if top and top not in _STDLIB:
                    line = lines[node.lineno - 1]
                    before = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                    commented = "#" in line or before.startswith("#")
                    function_level.append((module, node.lineno, ast.unparse(node), commented))
    return edges, function_level


_STDLIB = set(__import__("sys").stdlib_module_names) | {"__future__"}


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_circles_among_helpdesk_modules():
    edges, _ = _graph()
    circles = _strongly_connected(edges)
    report = []
    for members in circles:
        inside = set(members)
        ties = [f"    {m} -> {t}" for m in members for t in sorted(edges[m] & inside)]
        report.append(f"{len(members)} modules: {', '.join(members)}\n" + "\n".join(ties))
    assert not circles, "import circles:\n" + "\n".join(report)


def test_function_level_imports_are_few_and_each_says_why():
    _, function_level = _graph()
    listing = "\n".join(f"  {m}:{line}  {text}" for m, line, text, _ in function_level)
    assert len(function_level) <= MAX_FUNCTION_LEVEL_IMPORTS, (
        f"{len(function_level)} function-level imports (ceiling {MAX_FUNCTION_LEVEL_IMPORTS}):\n"
        + listing
    )
    silent = [f"  {m}:{line}  {text}" for m, line, text, commented in function_level if not commented]
    assert not silent, "function-level imports without a '#' reason:\n" + "\n".join(silent)


def test_the_graph_reader_resolves_relative_and_submodule_imports():
    tree = ast.parse(
        "from . import services\n"
        "from .models import Ticket\n"
        "from ..errors import NotFound\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from helpdesk.kb import models\n"
        "def f():\n"
        "    import sklearn  # heavy, loads lazily\n"
    )
    known = {"helpdesk.tickets.services", "helpdesk.tickets.models", "helpdesk.errors"}
    seen = [
        (_targets(node, "helpdesk.tickets.views", False, known), inside)
        for node, inside in _imports(tree)
    ]
    assert seen == [
        (["helpdesk.tickets.services"], False),
        (["helpdesk.tickets.models"], False),
        (["helpdesk.errors"], False),
        (["typing"], False),
        (["sklearn"], True),
    ]
    cycle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _strongly_connected(cycle) == [["a", "b", "c"]]
