"""The layout's rules, read from the source: which app may import which (DESIGN §3)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("billing", "configurations", "portal", "webhooks", "api")

# DESIGN §3: api and portal -> configurations -> billing; webhooks -> billing; api and portal never import each
# other. (billing reaches webhooks only by task name, never by import.)
FORBIDDEN = {
    "billing": {"configurations", "portal", "api", "webhooks"},
    "configurations": {"portal", "api", "webhooks"},
    "webhooks": {"portal", "api"},
    "api": {"portal"},
    "portal": {"api"},
}


def modules(app: str) -> list[Path]:
    """Every Python module of ``app`` but its migrations (which name other apps by label, not by import)."""
    return sorted(path for path in (ROOT / app).rglob("*.py") if "migrations" not in path.relative_to(ROOT).parts)


def _package(path: Path) -> list[str]:
    """The package a module belongs to (``a/b/c.py`` and ``a/b/__init__.py`` are both in ``a.b``)."""
    return list(path.relative_to(ROOT).parts[:-1])


def imported(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, at any depth (inside functions too), relative imports
    resolved; ``importlib.import_module("…")`` with a literal name counts as an import."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package(path)
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def _is_import_module(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def wall_violations(app: str) -> list[str]:
    forbidden = FORBIDDEN[app]
    violations = []
    for path in modules(app):
        for line, module in imported(path):
            target = module.split(".")[0]
            if target in forbidden:
                violations.append(f"{path.relative_to(ROOT)}:{line}: {app} imports {module}")
    return violations


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_imports_point_the_way_the_design_says(app):
    violations = wall_violations(app)
    assert not violations, "DESIGN §3 forbids these imports:\n" + "\n".join(violations)


def test_every_app_is_checked():
    assert set(FORBIDDEN) == set(APPS)
    assert all(modules(app) for app in APPS)


def test_the_reader_finds_imports_anywhere_in_a_module():
    source = (
        "import billing.models\n"
        "from . import flows\n"
        "from ..portal import views\n"
        "def late():\n"
        "    from portal.services import x\n"
        "    importlib.import_module('api.errors')\n"
        "class C:\n"
        "    import webhooks\n"
    )
    found = imported(ROOT / "configurations" / "sessions.py", source)
    assert sorted(found) == [
        (1, "billing.models"),
        (2, "configurations"),
        (3, "portal"),
        (5, "portal.services"),
        (6, "api.errors"),
        (8, "webhooks"),
    ]
