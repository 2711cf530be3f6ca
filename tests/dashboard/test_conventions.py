"""House rules the dashboard and the digest keep (STYLE.md): other apps are reached through
their models, services and selectors only, and every public function says what it answers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = sorted((ROOT / "analytics/dashboard").rglob("*.py"))
DOCUMENTED = [*DASHBOARD, ROOT / "analytics/delivery/digest.py"]
OTHER_APPS = ("governance", "ingestion")
PUBLIC_FACES = ("models", "services", "selectors")


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", DASHBOARD, ids=relative)
def test_the_dashboard_imports_other_apps_public_faces_only(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            app, _, rest = node.module.partition(".")
            if app in OTHER_APPS:
                assert rest in PUBLIC_FACES, f"{relative(path)} imports {node.module}"


@pytest.mark.parametrize("path", DOCUMENTED, ids=relative)
def test_public_functions_and_classes_have_docstrings(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), relative(path)
    undocumented = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
        and not ast.get_docstring(node)
    ]
    assert not undocumented, f"{relative(path)}: {', '.join(undocumented)}"
