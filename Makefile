# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint clean prodlike prodlike-stop smoke

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt -c requirements/constraints.txt

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt

# Embedded default: SQLite in var/, Celery tasks run eagerly, demo data.
run: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo
	@echo "Admin: http://$(HOST):$(PORT)/admin/"
	@echo "Demo logins (password demo-pass-2026): admin, sales, sales-manager, finance"
	@echo
	DJANGO_DEBUG=1 PUBLIC_BASE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The whole suite. DATABASE_URL picks the database (SQLite when unset);
# SECRET_KEY is a throwaway value because tests run with DEBUG off.
test: install-dev
	SECRET_KEY=$${SECRET_KEY:-test-only-$$(date +%s%N)} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://testserver} SECURE_SSL_REDIRECT=0 \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

# The production-like stack (gunicorn, Celery worker, Celery beat) on the local PostgreSQL and Redis,
# with demo data, for smoke testing; bin/prodlike lists its settings. Stop it with make prodlike-stop.
prodlike: install
	bin/prodlike start --demo

prodlike-stop:
	bin/prodlike stop

# Start that stack on a fresh database, complete a PunchOut round trip and an order through the real
# worker, then stop it (.ci/run runs this too).
smoke: install-dev
	$(BIN)/python .ci/smoke.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
