"""The layout's rules, read from the source: which app may import which (DESIGN §3)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("billing", "configurations", "portal", "webhooks", "api", "vault", "checkout")

# DESIGN §3: api and portal -> configurations -> billing; webhooks -> billing; api and portal never import each
# other. (billing reaches webhooks only by task name, never by import.) vault (the test gateway's hosted fields,
# standing in for a processor's own service) -> billing, and nothing imports it: the portal reaches it only
# through the URL of a frame. checkout (hosted Checkout) -> portal (its hosted fields, forms and payment pieces) ->
# configurations -> billing; api -> checkout for /v1/checkout/sessions; nothing below imports checkout.
FORBIDDEN = {
    "billing": {"configurations", "portal", "api", "webhooks", "vault", "checkout"},
    "configurations": {"portal", "api", "webhooks", "vault", "checkout"},
    "webhooks": {"portal", "api", "vault", "checkout"},
    "api": {"portal", "vault"},
    "portal": {"api", "vault", "checkout"},
    "vault": {"configurations", "portal", "api", "webhooks", "checkout"},
    "checkout": {"api", "webhooks", "vault"},
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


# ---------------------------------------------------------------------------------------------- edges

# DESIGN §8a: views, API resources and admin classes only call services; the service owns the transaction, the
# row locks and every write.
EDGES = sorted(
    {
        *(ROOT / "portal" / "views").rglob("*.py"),
        ROOT / "portal" / "access.py",
        ROOT / "vault" / "views.py",
        ROOT / "checkout" / "views.py",
        ROOT / "checkout" / "link_views.py",
        ROOT / "checkout" / "admin.py",
        *(ROOT / "api" / "resources").rglob("*.py"),
        ROOT / "billing" / "admin.py",
        ROOT / "billing" / "admin_scoping.py",
        ROOT / "billing" / "admin_fees.py",
        ROOT / "billing" / "admin_processors.py",
        ROOT / "billing" / "admin_clocks.py",
        ROOT / "configurations" / "admin.py",
        ROOT / "webhooks" / "admin.py",
        ROOT / "webhooks" / "views.py",
    }
)
# Calls that write (or lock) whatever they are called on.
ALWAYS = {"select_for_update", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "lock"}
# Calls that write when made on a model, a manager or a queryset (dicts and forms have methods of these names).
MODEL_WRITES = {"save", "delete", "create", "update"}
QUERYSET_METHODS = {
    "all",
    "filter",
    "exclude",
    "select_related",
    "prefetch_related",
    "order_by",
    "only",
    "defer",
    "annotate",
    "using",
    "distinct",
}
# Receivers of such calls that are not models: Django's cache, the session, a form's non-committing save.
NOT_MODELS = {"cache", "session", "context", "kwargs", "fields", "attrs", "data", "initial", "extra", "error"}


def _receiver_names(node: ast.expr) -> list[str]:
    """The names along a receiver: ``Price.objects.filter(...)`` -> ["Price", "objects", "filter"]."""
    names = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            if isinstance(node, ast.Name):
                names.append(node.id)
            return names[::-1]


def _writes(call: ast.Call) -> str | None:
    """What a call does that an edge must leave to a service, or None."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name == "atomic":
        return "transaction.atomic"
    if name in ALWAYS:
        return name
    if name not in MODEL_WRITES or not isinstance(func, ast.Attribute):
        return None
    receiver = _receiver_names(func.value)
    if any(keyword.arg == "commit" for keyword in call.keywords) or (receiver and receiver[-1] in NOT_MODELS):
        return None
    if name in ("save", "delete"):
        return f".{name}()"
    # create/update: on a manager or queryset (``.objects``, a related manager's chain, a queryset variable).
    querylike = "objects" in receiver or QUERYSET_METHODS & set(receiver)
    if querylike or (receiver and receiver[-1].endswith(("queryset", "_qs"))):
        return f".{name}()"
    return None


def edge_writes(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (what := _writes(node)):
            found.append((node.lineno, what))
        elif isinstance(node, ast.Attribute) and node.attr == "atomic" and not _is_called(node, tree):
            found.append((node.lineno, "transaction.atomic"))  # as a decorator or context manager object
    return sorted(set(found))


def _is_called(node: ast.Attribute, tree: ast.AST) -> bool:
    return any(isinstance(parent, ast.Call) and parent.func is node for parent in ast.walk(tree))


@pytest.mark.parametrize("path", EDGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_edges_leave_transactions_locks_and_writes_to_the_services(path):
    found = edge_writes(path)
    assert not found, "DESIGN §8a: an edge calls one service, which owns these:\n" + "\n".join(
        f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in found
    )


def test_the_edge_reader_tells_writes_from_look_alikes():
    source = (
        "with transaction.atomic():\n"  # 1
        "    Price.objects.filter(pk=1).update(active=False)\n"  # 2
        "obj.save(update_fields=['name'])\n"  # 3
        "context.update(form=form)\n"  # 4
        "form.save(commit=False)\n"  # 5
        "customer.tax_ids.create(value='x')\n"  # 6
        "Customer.objects.select_for_update(no_key=True).get(pk=1)\n"  # 7
        "queryset.update(active=False)\n"  # 8
        "cache.delete('k')\n"  # 9
        "@transaction.atomic\n"  # 10
        "def f(): pass\n"  # 11
        "current = lock(Subscription, pk)\n"  # 12
        "merged = {**a}; merged.update(b)\n"  # 13
        "response.delete_cookie('c')\n"  # 14
    )
    assert edge_writes(ROOT / "portal" / "views" / "example.py", source) == [
        (1, "transaction.atomic"),
        (2, ".update()"),
        (3, ".save()"),
        (7, "select_for_update"),
        (8, ".update()"),
        (10, "transaction.atomic"),
        (12, "lock"),
    ]


# ---------------------------------------------------------------------------------------------- size

# CONVENTIONS "Where code goes": services split by verb, as Zulip's zerver/actions/, before a module passes ~600 lines;
# a function over 80 lines hides the steps it should be calling.
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
SERVICE_MODULES = sorted(
    {
        *(ROOT / "billing" / "services").rglob("*.py"),
        *(ROOT / "configurations" / "services").rglob("*.py"),
        *(ROOT / "checkout" / "services").rglob("*.py"),
        ROOT / "configurations" / "sessions.py",
        *(ROOT / "webhooks").glob("services*.py"),
        *(ROOT / "webhooks" / "services").rglob("*.py"),
    }
)


def oversized(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, what) for the module, if it is over ``MAX_MODULE_LINES``, and every function or method in it (nested
    ones too) over ``MAX_FUNCTION_LINES``, counted from ``def`` to its last line."""
    source = source if source is not None else path.read_text()
    found = []
    if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
        found.append((1, f"module is {lines} lines (limit {MAX_MODULE_LINES})"))
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.lineno, f"{node.name}() is {length} lines (limit {MAX_FUNCTION_LINES})"))
    return sorted(found)


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_service_modules_and_their_functions_stay_small(path):
    found = oversized(path)
    assert not found, "Split it by verb (CONVENTIONS, Where code goes):\n" + "\n".join(
        f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in found
    )


def test_every_service_module_is_measured():
    measured = {str(path.relative_to(ROOT)) for path in SERVICE_MODULES}
    assert {
        "billing/services/products.py",
        "billing/services/subscriptions/change.py",
        "configurations/services/validation.py",
        "configurations/sessions.py",
    } <= measured
    assert any(name.startswith("webhooks/services") for name in measured)


def test_the_size_reader_counts_the_module_and_every_function_in_it():
    def function(header: str, length: int, indent: str = "") -> list[str]:
        return [indent + header, *[indent + "    pass"] * (length - 1)]

    lines = [
        *function("def fits():", MAX_FUNCTION_LINES),
        *function("async def too_long():", MAX_FUNCTION_LINES + 1),
        "class Service:",
        *function("def method(self):", MAX_FUNCTION_LINES + 1, indent="    "),
    ]
    source = "\n".join(lines) + "\n"
    too_long = (MAX_FUNCTION_LINES + 1, f"too_long() is {MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})")
    method = (2 * MAX_FUNCTION_LINES + 3, f"method() is {MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})")
    path = ROOT / "billing" / "services" / "example.py"
    assert oversized(path, source) == [too_long, method]
    padded = source + "#\n" * (MAX_MODULE_LINES + 1 - len(lines))
    module = (1, f"module is {MAX_MODULE_LINES + 1} lines (limit {MAX_MODULE_LINES})")
    assert oversized(path, padded) == [module, too_long, method]
