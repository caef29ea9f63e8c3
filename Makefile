# Zorginkoop: `make run` starts the platform on embedded defaults, `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PACKAGES := -e 'libs/common[embedded]' -e services/eligibility -e services/contracting -e services/claims -e services/publication
STAMP  := $(VENV)/.installed
# Every dependency, pinned with its hashes (`make lock` writes both from requirements/*.in).
LOCK   := requirements/dev.lock
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu \
	$(foreach p,common eligibility contracting claims publication,--no-emit-package zorg-$(p))
BROWSER := /usr/bin/chromium
AXE    := node_modules/axe-core/axe.min.js

.PHONY: run test lint bench install migrate clean lock k8s

# The lock first (every wheel checked against its hash), then our own five packages on top of it
# without resolving anything again; setuptools, their build backend, comes from the lock too.
$(STAMP): $(LOCK) libs/common/pyproject.toml services/*/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation $(PACKAGES)
	@touch $(STAMP)

install: $(STAMP)

# After changing a dependency in a pyproject.toml or requirements-dev.txt: pin it again (the
# images' lock is constrained by the development lock, so both hold the same versions).
lock: $(STAMP)
	$(UV_COMPILE) requirements/dev.in -o requirements/dev.lock
	$(UV_COMPILE) requirements/runtime.in -c requirements/dev.lock -o requirements/runtime.lock

# The publication page's browser test drives Debian's Chromium (no browser is downloaded).
$(BROWSER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "the browser test needs Debian's chromium: sudo apt-get install --no-install-recommends chromium"; \
		exit 1; \
	fi

# The portal page's browser test checks WCAG 2.1 A/AA with axe-core, a test dependency from npm
# (package.json); nothing of it is served by the platform.
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null || { echo "the portal's browser test needs npm (Debian: apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(AXE)

run: $(STAMP)
	$(BIN)/zorg up

migrate: $(STAMP)
	$(BIN)/zorg migrate

# Most tests wait on the broker (a consumer group's join, a relay's round): three worker processes
# keep two cores busy. Each worker has its own broker and databases; a test file runs in one worker.
TEST_WORKERS ?= 3
test: $(STAMP) $(BROWSER) $(AXE)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/common/src services/*/src bench tests deploy/k8s/generate.py

# The Kubernetes manifests are written from one table (deploy/k8s/generate.py): edit it, then run this.
k8s: $(STAMP)
	$(BIN)/python deploy/k8s/generate.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache
