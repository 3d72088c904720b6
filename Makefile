# gridlink: the README's two commands are `make demo` and `make test`; both start from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
export GRIDLINK_PORT ?= $(PORT)

.PHONY: setup system translations demo test lint bench db-down

## setup: system packages, .venv with gridlink installed, embedded PostGIS running and migrated
setup: system $(STAMP) translations
	@if [ -z "$$DATABASE_URL" ]; then $(BIN)/gridlink db up; fi
	@$(BIN)/gridlink db upgrade

system:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# One catalog per feature (messages.po, plan.po ...); each .po compiles to its .mo.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard webapp/translations/*/LC_MESSAGES/*.po))

translations: $(CATALOGS)

webapp/translations/%.mo: webapp/translations/%.po $(STAMP)
	@$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ >/dev/null 2>&1

## demo: load the Lanxi demo city and serve it on http://127.0.0.1:$(PORT)
demo: setup
	@GRIDLINK_MODE=demo $(BIN)/gridlink demo load
	@echo "gridlink demo: http://127.0.0.1:$(PORT)/login"
	@echo "  logins (password gridlink-demo): admin dispatcher supervisor inspector squad_leader officer co_manager department planner viewer"
	@GRIDLINK_MODE=demo $(BIN)/gridlink serve --port $(PORT)

## test: the whole suite (unit, real PostGIS, HTTP, real Chromium)
test: setup
	@$(BIN)/pytest -q

lint: $(STAMP)
	@$(BIN)/ruff check .

bench: setup
	@for f in bench/*.py; do $(BIN)/python $$f; done

db-down: $(STAMP)
	@$(BIN)/gridlink db down
