"""import-linter contracts over the shipped code only: tests beside the code (`*_test.py`) may import the
pipeline and tests/helpers to build their fixtures, which the layers forbid to production modules.

Registered in pyproject.toml ([tool.importlinter] contract_types); `make lint` runs them.
"""

from __future__ import annotations

from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

TEST_MODULE_SUFFIX = "_test"


def drop_test_modules(graph) -> None:
    """Removes the test modules (and their imports) from the graph a contract checks (a copy per contract)."""
    for module in sorted(graph.modules):
        if module.rsplit(".", 1)[-1].endswith(TEST_MODULE_SUFFIX):
            graph.remove_module(module)


class ProductionLayersContract(LayersContract):
    type_name = "production_layers"

    def check(self, graph, verbose):
        drop_test_modules(graph)
        return super().check(graph, verbose)


class ProductionIndependenceContract(IndependenceContract):
    type_name = "production_independence"

    def check(self, graph, verbose):
        drop_test_modules(graph)
        return super().check(graph, verbose)
