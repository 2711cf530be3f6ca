"""Raw SQL names only its own app's tables (DESIGN.md, "Layout and dependency direction").

No import shows that one app's SQL reads another's table, so import-linter cannot see it:
this test reads every module's strings instead. A string (an f-string's text included) that
names a table of another app fails it, wherever it is used; comments and docstrings may name
any table. What an app needs of another's tables is a selector or a service of the owner.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
APPS = ("governance", "ingestion", "analytics")


def _tables(label: str) -> set[str]:
    """Every table of the app: its models', with the many-to-many and history tables."""
    config = apps.get_app_config(label)
    return {model._meta.db_table for model in config.get_models(include_auto_created=True)}


def _pattern(tables: set[str]) -> re.Pattern[str]:
    # Longest first, so a table is named whole; a partition (`<table>_y2026m12`) names its table.
    names = "|".join(re.escape(name) for name in sorted(tables, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])({names})")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the nodes that are docstrings (of the module, a class or a function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def tables_named(source: str, pattern: re.Pattern[str]) -> Iterator[tuple[int, str]]:
    """(line, table) of each table the source's strings name, docstrings and comments aside."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            for match in pattern.finditer(node.value):
                yield node.lineno, match.group(1)


def _foreign_tables(label: str) -> set[str]:
    return set().union(*(_tables(other) for other in APPS if other != label))


@pytest.mark.parametrize("label", APPS)
def test_an_app_names_no_other_apps_table_in_its_sql(label):
    pattern = _pattern(_foreign_tables(label))
    found = [
        f"{path.relative_to(ROOT)}:{line}: {table}"
        for path in sorted((ROOT / label).rglob("*.py"))
        for line, table in tables_named(path.read_text(encoding="utf-8"), pattern)
    ]
    assert found == [], "raw SQL names another app's tables; read them through its selectors"


def test_the_raw_tables_are_among_the_foreign_tables_of_the_other_apps():
    for label in ("analytics", "governance"):
        assert {"ingestion_routingevent", "ingestion_enforcementevent"} <= _foreign_tables(label)
    for label in ("ingestion", "governance"):
        assert {"analytics_requestfact", "analytics_attemptrollup"} <= _foreign_tables(label)


SOURCE = '''
"""Reads ingestion_routingevent (a docstring may say so)."""
# SELECT * FROM ingestion_enforcementevent  (a comment may too)


def hour(project_id):
    """From ingestion_routingevent."""
    table = "ingestion_routingevent_y2026m12"
    return f"SELECT count(*) FROM ingestion_routingevent WHERE project_id = {project_id}"
'''


def test_the_scan_finds_a_table_in_code_and_not_in_comments_or_docstrings():
    pattern = _pattern(_tables("ingestion"))
    assert sorted(tables_named(SOURCE, pattern)) == [
        (8, "ingestion_routingevent"),
        (9, "ingestion_routingevent"),
    ]
