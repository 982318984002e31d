"""The layers of docs/architecture.md, checked on the code's own imports: each package imports
only the packages below it, so no arrow runs back up and the composition root stays a root."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[2]

# Each package of ours and what it may import (besides itself); docs/architecture.md says why.
ALLOWED: dict[str, frozenset[str]] = {
    "proto": frozenset(),
    "database": frozenset({"proto"}),
    "account_host": frozenset({"proto"}),
    "acquirer_front": frozenset({"proto"}),
    "switch": frozenset({"proto"}),
    "dialup": frozenset({"proto"}),
    "back_office": frozenset({"proto", "database", "acquirer_front"}),
    "clearing": frozenset({"proto", "database"}),
    "notifications": frozenset({"proto", "database"}),
    "runtime": frozenset({"proto", "database", "account_host", "acquirer_front", "switch",
                          "dialup", "back_office", "notifications"}),
    "devices": frozenset({"proto", "dialup"}),
    "loadtest": frozenset({"proto", "database", "account_host", "acquirer_front", "switch",
                           "dialup", "back_office", "clearing", "notifications", "runtime",
                           "devices"}),
    "jifen": frozenset({"proto", "database", "account_host", "acquirer_front", "switch",
                        "dialup", "back_office", "clearing", "notifications", "runtime",
                        "devices", "loadtest"}),
}
SERVICES = ("account_host", "acquirer_front", "switch", "dialup")


def _imports_of(package: str) -> dict[str, set[str]]:
    """Our top-level packages each module of `package` imports (at any depth of the module)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO_DIR / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO_DIR))] = (names & set(ALLOWED)) - {package}
    return found


def test_every_package_of_the_repository_has_its_layer() -> None:
    packages = {path.parent.name for path in REPO_DIR.glob("*/__init__.py")}
    assert packages - {"tests"} == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_lies_below_it(package: str) -> None:
    wrong = {module: sorted(names - ALLOWED[package])
             for module, names in _imports_of(package).items() if names - ALLOWED[package]}
    assert wrong == {}, f"{package} may import only {sorted(ALLOWED[package])}"


def test_nothing_imports_the_composition_root() -> None:
    assert all("jifen" not in allowed for allowed in ALLOWED.values())


def test_the_product_never_imports_test_equipment() -> None:
    product = set(ALLOWED) - {"devices", "loadtest", "jifen"}
    for package in product:
        assert not ALLOWED[package] & {"devices", "loadtest"}, package
    for package in SERVICES:
        assert ALLOWED[package] == {"proto"}, package
