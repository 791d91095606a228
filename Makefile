# Tessera. `make demo` runs the product on the embedded default (SQLite, no Redis, no
# Stripe keys); `make test` runs the whole suite against PostgreSQL and Redis.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Reinstall when pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# torch must come first and pinned, or pip pulls CUDA builds. Off this machine, point
# TORCH_INDEX_URL at https://download.pytorch.org/whl/cpu.
TORCH_INDEX_URL ?=
TORCH_INSTALL_FLAGS := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)

.DEFAULT_GOAL := help
.PHONY: help install demo test check bench

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Tessera needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(TORCH_INSTALL_FLAGS)
	$(BIN)/python -m pip install --quiet -e '.[ml,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP) ## Create .venv and install everything

demo: $(STAMP) ## Run the product locally on SQLite: web, worker and beat (Ctrl-C stops all)
	DJANGO_SETTINGS_MODULE=apps.config.settings.local $(BIN)/python manage.py demo

check: $(STAMP) ## Lint, format check, import boundaries, migrations up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DJANGO_SETTINGS_MODULE=apps.config.settings.local DATABASE_URL=sqlite:///:memory: \
		$(BIN)/python manage.py makemigrations --check --dry-run

test: $(STAMP) ## The whole suite against PostgreSQL and Redis (DATABASE_URL, REDIS_URL)
	@$(BIN)/python tests/preflight.py
	$(MAKE) --no-print-directory check
	$(BIN)/pytest

bench: $(STAMP) ## Benchmarks; they write docs/benchmarks.md
	@$(BIN)/python tests/preflight.py
	$(BIN)/python -m pip install --quiet -e '.[ml,dev,bench]'
	DJANGO_SETTINGS_MODULE=apps.config.settings.test $(BIN)/python -m tests.benchmarks
