"""The code's shape: no import cycles between shipped modules (function-level imports included), and the
layers `make lint` checks with import-linter, also checked here so `make test` alone catches a break."""

from __future__ import annotations

import grimp
import pytest

from tests.helpers.import_contracts import drop_test_modules

PACKAGES = ("pipeline", "components")
COMPONENT_PACKAGES = (
    "audio_example_gen",
    "spectrogram_transform",
    "keras_trainer",
    "sklearn_baseline_trainer",
    "blessing_evaluator",
    "versioned_pusher",
)
# Above the others: it reads every component's outputs with that component's own readers.
REPORTER_PACKAGE = "run_reporter"


@pytest.fixture(scope="module")
def graph():
    built = grimp.build_graph(*PACKAGES, "tests")
    drop_test_modules(built)
    return built


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted; [] when acyclic."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(edges.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycles_between_shipped_modules(graph):
    shipped = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    edges = {m: graph.find_modules_directly_imported_by(m) & shipped for m in shipped}
    assert import_cycles(edges) == []


def test_components_never_import_the_pipeline_nor_each_other(graph):
    """Only the RunReporter imports other components; none imports it."""
    wrong = []
    for module in sorted(m for m in graph.modules if m.startswith("components.")):
        own = module.split(".")[1] if module.count(".") >= 1 else ""
        for imported in graph.find_modules_directly_imported_by(module):
            root, _, rest = imported.partition(".")
            other = rest.split(".")[0]
            crosses = root == "components" and other != own and own != REPORTER_PACKAGE
            if root in ("pipeline", "tests") or (crosses and other in (*COMPONENT_PACKAGES, REPORTER_PACKAGE)):
                wrong.append(f"{module} -> {imported}")
    assert wrong == []
