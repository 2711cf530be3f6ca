# Tollgate: `make demo` runs the product on embedded defaults, `make test` runs the suite.
# Both create .venv from the lock file when it is missing or older than the lock.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: demo test lint integration bench lock clean

$(BIN)/.installed: requirements.lock clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e clients/python
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m tollgate.demo

test: $(BIN)/.installed lint
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -m "not integration"
	$(BIN)/pytest -p no:django clients/python/tests

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Against this machine's real services; .ci/run sets DATABASE_URL and the broker.
integration: $(BIN)/.installed
	$(BIN)/pytest -m integration

bench: $(BIN)/.installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/client.py

# Re-pin after editing pyproject.toml (needs uv on the developer's machine, not at install).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--no-header -o requirements.lock

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .hypothesis .mypy_cache .import_linter_cache
