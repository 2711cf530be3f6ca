"""`pip install ./clients/python` into a new virtualenv: no Django there, and the client
imports and sends.

pip needs an index for httpx (the one runtime dependency) and for the build backend. The test
uses a local one, never the internet: TOLLGATE_CLIENT_TEST_INDEX (a PEP 503 index URL), by
default this machine's mirror in /opt/pypi. Without one it is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
from receiver import Receiver

PACKAGE = Path(__file__).resolve().parent.parent
DEFAULT_INDEX = "file:///opt/pypi/simple"


def local_index() -> str:
    index = os.environ.get("TOLLGATE_CLIENT_TEST_INDEX", DEFAULT_INDEX)
    if index.startswith("file://") and not Path(index.removeprefix("file://")).is_dir():
        pytest.skip(f"no local package index at {index} (set TOLLGATE_CLIENT_TEST_INDEX)")
    return index


def test_installs_without_django_imports_and_sends(
    tmp_path: Path, make_receiver: Callable[..., Receiver]
) -> None:
    index = local_index()
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    python = home / "bin" / "python"
    # Only the given index and no config file: nothing is fetched from the internet.
    environment = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    environment.pop("PYTHONPATH", None)
    environment.pop("VIRTUAL_ENV", None)
    # A copy, so the build's by-products stay out of the source tree.
    source = shutil.copytree(
        PACKAGE, tmp_path / "tollgate-client", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--index-url", index, str(source)],
        check=True,
        env=environment,
        cwd=tmp_path,
        timeout=600,
    )

    receiver = make_receiver()
    script = textwrap.dedent(
        f"""
        import importlib.util, json
        assert importlib.util.find_spec("django") is None, "Django is installed"
        import tollgate_client
        assert "site-packages" in tollgate_client.__file__, tollgate_client.__file__
        client = tollgate_client.Client({receiver.url!r}, "tg_test_key", flush_interval_s=0.05)
        for index in range(3):
            client.routing(request_id=f"fresh-{{index}}", model="gpt-5.4", mode="hybrid",
                           input_tokens=10, output_tokens=5, latency_ms=12.5, status="ok")
        client.enforcement(request_id="fresh-0", layer="execution", policy="pii",
                           verdict="allow", check_latency_ms=1.5)
        print(json.dumps({{"flushed": client.flush(timeout_s=30), "stats": client.stats()}}))
        """
    )
    run = subprocess.run(
        [str(python), "-c", script],
        check=True,
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert '"flushed": true' in run.stdout, run.stdout + run.stderr
    assert '"sent": 4' in run.stdout
    assert sorted(event["request_id"] for event in receiver.events()) == [
        "fresh-0",
        "fresh-0",
        "fresh-1",
        "fresh-2",
    ]
