# Two set-up commands (see README): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint bench clean venv assets

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# Front-end packages from the npm registry, exactly as the lock file says (Node 20+).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

venv: $(STAMP)

# The console's vendored libraries and the field app, built into the folders the server serves.
assets: $(NODE_STAMP)
	npm run build

run: $(STAMP) assets
	mkdir -p var
	$(BIN)/recheck migrate
	$(BIN)/recheck demo --once
	$(BIN)/recheck serve --host 127.0.0.1 --port 8000

test: $(STAMP) assets
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) var node_modules
