"""The layering of docs/design.md, read from the source's import statements (ast, nothing run).

Every import counts, also one inside a function or under TYPE_CHECKING: a lazy import is still
a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

PACKAGE = "recovery_ledger"
ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "projections", "infra")
ALLOWED_LOOSE_INFRA_MODULES = {"__init__", "errors", "version", "bootstrap"}
ENTRY_POINT = f"{PACKAGE}.__main__"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            # "from pkg import sub" may name a submodule: count both, the prefix rules hold.
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def import_graph() -> Mapping[str, frozenset[str]]:
    """Every module of the package -> the modules of the package it imports."""
    files = [ROOT / "__init__.py", ROOT / "__main__.py"]
    for layer in LAYERS:
        files += sorted((ROOT / layer).rglob("*.py"))
    graph = {}
    for path in files:
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = _imported(tree, module, path.name == "__init__.py")
        graph[module] = frozenset(n for n in names if n.split(".")[0] == PACKAGE)
    return graph


def _violations(source_prefix: str, forbidden_prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if _within(module, source_prefix)
        for target in targets
        if any(_within(target, prefix) for prefix in forbidden_prefixes)
    )


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def infra_component(module: str) -> str | None:
    """The infra subpackage or loose infra module a module belongs to (``infra.store``,
    ``infra.errors``); None outside infra and for infra's own ``__init__``."""
    parts = module.split(".")
    if parts[:2] != [PACKAGE, "infra"] or len(parts) < 3:
        return None
    return parts[2]


def find_cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for successor in sorted(edges.get(node, ())):
            cycle = visit(successor)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(edges):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_the_graph_sees_the_whole_package_and_its_lazy_imports() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.domain.loop" in graph
    assert f"{PACKAGE}.infra.store.app" in graph
    # __main__ imports the CLI at the top; the parser imports the version inside a function.
    assert f"{PACKAGE}.infra.cli.main" in graph[ENTRY_POINT]
    assert f"{PACKAGE}.infra.version" in graph[f"{PACKAGE}.infra.cli.parser"]


def test_the_domain_imports_neither_infra_nor_projections() -> None:
    assert _violations(f"{PACKAGE}.domain", (f"{PACKAGE}.infra", f"{PACKAGE}.projections")) == []


def test_projections_do_not_import_infra() -> None:
    assert _violations(f"{PACKAGE}.projections", (f"{PACKAGE}.infra",)) == []


def test_nothing_but_the_entry_point_and_the_cli_itself_imports_the_cli() -> None:
    cli = f"{PACKAGE}.infra.cli"
    importers = sorted(
        module
        for module, targets in import_graph().items()
        if not _within(module, cli) and any(_within(target, cli) for target in targets)
    )
    assert importers == [ENTRY_POINT]


def test_infra_subpackages_and_loose_modules_form_no_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        source = infra_component(module)
        if source is None:
            continue
        for target in targets:
            component = infra_component(target)
            if component is not None and component != source:
                edges.setdefault(source, set()).add(component)
    assert find_cycle(edges) is None


def test_infra_holds_at_most_four_loose_modules() -> None:
    loose = {path.stem for path in (ROOT / "infra").glob("*.py")}
    assert loose <= ALLOWED_LOOSE_INFRA_MODULES, loose - ALLOWED_LOOSE_INFRA_MODULES
    assert len(loose) <= 4


def test_the_cycle_finder_finds_a_cycle_through_three_nodes_and_none_in_a_chain() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_relative_imports_resolve_to_the_package() -> None:
    tree = ast.parse("from .store import app\nfrom .. import domain\n")
    names = set(_imported(tree, f"{PACKAGE}.infra.bootstrap", is_package=False))
    assert {f"{PACKAGE}.infra.store.app", f"{PACKAGE}.domain"} <= names
