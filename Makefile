# Zorginkoop: `make run` starts the platform on embedded defaults, `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PACKAGES := -e 'libs/common[embedded]' -e services/eligibility -e services/contracting -e services/claims -e services/publication
STAMP  := $(VENV)/.installed
BROWSER := /usr/bin/chromium
AXE    := node_modules/axe-core/axe.min.js

.PHONY: run test lint bench install migrate clean

$(STAMP): libs/common/pyproject.toml services/*/pyproject.toml requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PACKAGES) -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

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

test: $(STAMP) $(BROWSER) $(AXE)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/common/src services/*/src bench tests

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache
