"""The package imports only what its install declares: the standard library,
its dependencies and its extras (``.[all]``), never a dev-only package (a
test client, a test runner): a user who installed ``.[all]`` runs every
command and demo. ``eventflux.testing`` (the contract suites a backend's own
tests run) is the exception: it needs pytest, pytest-asyncio and hypothesis,
as the test suite that runs it does, and nothing else imports it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "eventflux"

#: top-level import names of the dependencies and of every extra in pyproject.toml
DECLARED = {
    "eventflux",
    # dependencies
    "msgspec",
    "orjson",
    "structlog",
    # postgres, nats
    "psycopg",
    "psycopg_pool",
    "nats",
    # server, metrics
    "starlette",
    "uvicorn",
    "httptools",
    "websockets",
    "jinja2",
    "prometheus_client",
    "uvloop",
    # otel, cli
    "opentelemetry",
    "typer",
    "rich",
    "click",  # typer's own dependency, used through it
    "yaml",
}


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_package_imports_only_declared_packages() -> None:
    wrong = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "testing":
            continue
        outside = _imported(path) - DECLARED - set(sys.stdlib_module_names)
        if outside:
            wrong[str(path.relative_to(SRC))] = sorted(outside)
    assert not wrong, f"imports of packages no install extra declares: {wrong}"


def test_nothing_but_tests_imports_the_contract_suites() -> None:
    users = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "testing"
        and any(
            name == "eventflux.testing" or name.startswith("eventflux.testing.")
            for name in _modules(path)
        )
    ]
    assert not users, users


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0:
                names.add(node.module)
            else:  # relative: resolve against the module's package
                package = path.relative_to(SRC.parent).with_suffix("").parts[: -node.level]
                names.add(".".join((*package, node.module)))
    return names
