"""The layers hold: handlers never reach the store, services know neither Tornado nor
pymongo, only the store imports pymongo, nothing imports the local stack, and no
project module imports itself through others."""

from __future__ import annotations

import ast
from pathlib import Path

from harness.settings import ROOT

LAYERS = ("handlers", "services", "store", "server", "integrations", "commands", "devstack")
TOP_MODULES = ("app", "config")


def project_modules() -> dict[str, Path]:
    modules = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for layer in LAYERS:
        for path in (ROOT / layer).glob("*.py"):
            name = layer if path.stem == "__init__" else f"{layer}.{path.stem}"
            modules[name] = path
    return modules


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, absolute, whether or not it is the project's."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = project_modules()
IMPORTS = {name: imports_of(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    return module.split(".")[0]


def importers_of(prefix: str) -> set[str]:
    return {
        name
        for name, found in IMPORTS.items()
        if any(m == prefix or m.startswith(prefix + ".") for m in found)
    }


def test_handlers_never_import_the_store():
    assert {m for m in importers_of("store") if layer_of(m) == "handlers"} == set()


def test_services_know_neither_tornado_nor_pymongo():
    for outside in ("tornado", "pymongo", "bson"):
        assert {m for m in importers_of(outside) if layer_of(m) == "services"} == set(), outside


def test_only_the_store_imports_pymongo():
    for driver in ("pymongo", "bson"):
        assert {layer_of(m) for m in importers_of(driver)} <= {"store"}, driver


def test_the_service_never_imports_the_local_stack():
    assert {layer_of(m) for m in importers_of("devstack")} <= {"devstack"}


def test_handler_modules_are_route_modules():
    helpers = {"handlers", "handlers.base", "handlers.params"}
    for name in MODULES:
        if layer_of(name) == "handlers" and name not in helpers:
            tree = ast.parse(MODULES[name].read_text())
            assigned = {
                target.id
                for node in tree.body
                if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)
            }
            assert "routes" in assigned, f"{name} has no routes"


def test_no_import_cycles():
    graph = {
        name: {m for m in found if m in MODULES and m != name} for name, found in IMPORTS.items()
    }
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
