"""A serving process freezes its loaded heap (tollgate/heap.py): the garbage collector's full
collections walk what requests allocate, not the application's own objects.

Each check runs in a fresh interpreter: freezing this test process's heap would keep every
test's cyclic garbage for the rest of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.services import ROOT

# What a fresh interpreter reports after its code ran: the objects frozen, the objects the
# collector still tracks, and whether the dashboard's and the API's views were imported.
REPORT = """
import gc, json, sys
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "views": all(name in sys.modules for name in (
        "analytics.dashboard.views", "analytics.api.views", "ingestion.api.views"
    )),
}))
"""


def _run(code: str) -> dict:
    completed = subprocess.run(  # noqa: S603 (a fixed interpreter and code)
        [sys.executable, "-c", code + REPORT],
        env={**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tollgate.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout.splitlines()[-1])


def test_the_wsgi_entry_point_freezes_the_loaded_application():
    report = _run("import tollgate.wsgi\n")
    assert report["views"]  # imported before the freeze, not at the first request
    assert report["frozen"] > 50_000
    assert report["tracked"] < report["frozen"] / 10  # what is left to walk is small


def test_without_settling_the_collector_walks_the_whole_application():
    report = _run("import django\ndjango.setup()\n")
    assert report["frozen"] == 0
    assert report["tracked"] > 50_000
