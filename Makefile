# One obvious way to run everything. `make test` is what CI runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
CONTRACTS_STAMP := build/contracts/.built

.PHONY: install run test lint bench clean browser

install: $(STAMP) $(NPM_STAMP) $(CONTRACTS_STAMP)

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

$(CONTRACTS_STAMP): $(NPM_STAMP) scripts/build_contracts.js $(wildcard contracts/*.sol)
	node scripts/build_contracts.js
	@touch $(CONTRACTS_STAMP)

run: install
	$(BIN)/onchain demo

lint: install
	$(BIN)/ruff check onchain tests bench
	$(BIN)/mypy onchain

test: install browser lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m bench

# Debian's chromium for the dashboard test (Playwright drives it; no browser download). Installed only
# when missing and only as root; elsewhere the test is skipped and this says how to get it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: as root, apt-get install -y chromium (dashboard test skipped)"; fi; }

clean:
	rm -rf $(VENV) node_modules data .pytest_cache .mypy_cache .ruff_cache
