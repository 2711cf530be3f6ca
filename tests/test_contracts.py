"""The import contracts of pyproject.toml (checked by `lint-imports` in `make lint`) hold on the
tree, fail when an import breaks them, and leave no module of an app unclassified.

A contract that cannot fail protects nothing: each one is checked here against the real import
graph with one offending import added, and must then be broken.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.application.use_cases import read_user_options
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract
from importlinter.contracts.protected import ProtectedContract

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_TYPES: dict[str, Any] = {
    "layers": LayersContract,
    "protected": ProtectedContract,
    "forbidden": ForbiddenContract,
}
# What another app (or the project) may import of each app: docs/ARCHITECTURE.md's public
# faces. Every other module of the app must be protected by the app's contract.
PUBLIC = {
    "governance": (
        "governance",
        "governance.admin",  # TenantScopedAdmin, for the other apps' admin classes
        "governance.authentication",
        "governance.management",
        "governance.management.base",  # the commands' shared base and lookups
        "governance.matrix",
        "governance.models",
        "governance.numbers",
        "governance.pricing",
        "governance.rules",
        "governance.selectors",
        "governance.services",
        "governance.throttling",
    ),
    "ingestion": ("ingestion", "ingestion.models", "ingestion.selectors", "ingestion.services"),
    "analytics": (
        "analytics",
        "analytics.dashboard",
        "analytics.dashboard.urls",
        "analytics.exporters",
        "analytics.exporters.urls",
        "analytics.models",
        "analytics.selectors",
        "analytics.services",
        "analytics.urls",
    ),
}


@pytest.fixture(scope="module")
def options() -> Any:
    configuration.configure()  # what the lint-imports command does first
    return read_user_options(str(ROOT / "pyproject.toml"))


@pytest.fixture(scope="module")
def graph(options: Any) -> grimp.ImportGraph:
    return grimp.build_graph(*options.session_options["root_packages"])


def contract_options(options: Any, contract_id: str) -> dict[str, Any]:
    (found,) = [c for c in options.contracts_options if c.get("id") == contract_id]
    return dict(found)


def kept(options: Any, contract_id: str, graph: grimp.ImportGraph) -> bool:
    config = contract_options(options, contract_id)
    contract = CONTRACT_TYPES[config["type"]](
        name=config["name"], session_options=options.session_options, contract_options=config
    )
    return bool(contract.check(graph, verbose=False).kept)


@pytest.mark.parametrize(
    ("contract_id", "importer", "imported"),
    [
        ("layers", "governance.models", "analytics.models"),  # governance imports no app
        ("layers", "ingestion.services", "analytics.services"),  # ingestion is below analytics
        ("layers", "analytics.rollups.job", "tollgate.urls"),  # nothing imports the project
        ("governance-faces", "analytics.api.views", "governance.keys"),
        ("ingestion-faces", "analytics.rollups.job", "ingestion.writer"),
        ("analytics-faces", "tollgate.urls", "analytics.rollups.job"),
        ("pages-read-metrics", "analytics.dashboard.views", "analytics.rollups.families"),
        ("pages-read-metrics", "analytics.api.views", "tollgate.db.sql"),
        ("demo-apart", "ingestion.services", "tollgate.demo.traffic"),
        ("demo-apart", "tollgate.urls", "tollgate.demo.run"),
    ],
)
def test_a_contract_breaks_when_an_import_breaks_it(
    options: Any, graph: grimp.ImportGraph, contract_id: str, importer: str, imported: str
) -> None:
    assert kept(options, contract_id, graph)  # the tree as it is

    broken = deepcopy(graph)
    broken.add_import(importer=importer, imported=imported, line_number=1, line_contents="x")

    assert not kept(options, contract_id, broken)


@pytest.mark.parametrize("app", sorted(PUBLIC))
def test_every_module_of_an_app_is_public_or_protected(
    options: Any, graph: grimp.ImportGraph, app: str
) -> None:
    protected = contract_options(options, f"{app}-faces")["protected_modules"]

    def is_protected(module: str) -> bool:
        return any(module == p or module.startswith(f"{p}.") for p in protected)

    def is_public(module: str) -> bool:
        # The models packages' own modules are public too (governance.models.tenancy, ...).
        return module in PUBLIC[app] or module.startswith(f"{app}.models.")

    unclassified = sorted(
        module
        for module in graph.find_descendants(app)
        if not is_protected(module) and not is_public(module)
    )
    assert unclassified == [], f"add these to PUBLIC here or to the {app}-faces contract"
    assert not any(is_protected(face) for face in PUBLIC[app])
