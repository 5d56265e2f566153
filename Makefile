# make run: a fresh machine to a working portal with demo data (SQLite, Celery eager).
# make test: the whole suite. Both bootstrap their own virtualenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run portal-link staff-password test bench lint format messages translations clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po $(VENV)/.runtime
	$(BIN)/pybabel compile -D django -d locale -l $*

# Every catalogue under locale/ (de, fr, es, it, nl, …), compiled when its .po changed.
LOCALES := $(patsubst locale/%/LC_MESSAGES/django.po,%,$(wildcard locale/*/LC_MESSAGES/django.po))

translations: $(foreach locale,$(LOCALES),locale/$(locale)/LC_MESSAGES/django.mo)

# The demo's links (portal sessions, login page, hosted invoices) point at this server.
RUN_ENV = DEBUG=$${DEBUG:-1} PORTAL_BASE_URL=$${PORTAL_BASE_URL:-http://$(HOST):$(PORT)}
# `make run` notes the address it serves on, so that `make portal-link` (in another terminal, without repeating
# HOST or PORT) prints links to the running server; HOST, PORT or PORTAL_BASE_URL given to it win.
RUN_URL_FILE := .run-url
LINK_BASE_URL := http://$(HOST):$(PORT)
ifeq ($(origin PORT)$(origin HOST),filefile)
ifneq ($(wildcard $(RUN_URL_FILE)),)
LINK_BASE_URL := $(shell cat $(RUN_URL_FILE))
endif
endif

run: $(VENV)/.runtime translations
	@echo "$${PORTAL_BASE_URL:-http://$(HOST):$(PORT)}" > $(RUN_URL_FILE)
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput -v0
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo
	@echo "  Admin:  http://$(HOST):$(PORT)/admin/  (login printed above)"
	@echo "  Portal: $$($(RUN_ENV) $(BIN)/python manage.py portal_link 2>/dev/null | head -1)"
	@echo "          (single use, valid 5 minutes; \`make portal-link\` prints a new one)"
	@echo
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

portal-link: $(VENV)/.runtime
	@DEBUG=$${DEBUG:-1} PORTAL_BASE_URL=$${PORTAL_BASE_URL:-$(LINK_BASE_URL)} $(BIN)/python manage.py portal_link $(if $(CUSTOMER),--customer $(CUSTOMER)) 2>/dev/null | head -1

# Set (or change) a staff user's admin password: make staff-password STAFF=ops@acme.example
staff-password: $(VENV)/.runtime
	@test -n "$(STAFF)" || { echo "usage: make staff-password STAFF=EMAIL"; exit 2; }
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py changepassword "$(STAFF)"

# The suite in two parts: first everything but the `services` tests, spread over PYTEST_WORKERS processes
# (pytest-xdist; default one per core, 0 runs them in this process), then the `services` tests (real Celery
# workers, gunicorn, benchmarks, killed processes) alone, so that their timings and kills see no other load.
# Either part may select nothing for a given PYTEST_ARGS (pytest's exit status 5); both selecting nothing fails.
PYTEST_WORKERS ?= auto
test: $(VENV)/.dev translations
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not services" --durations=15 $(PYTEST_ARGS); first=$$?; \
	[ $$first -eq 0 ] || [ $$first -eq 5 ] || exit $$first; \
	$(BIN)/python -m pytest -m services --durations=5 $(PYTEST_ARGS); second=$$?; \
	[ $$second -eq 0 ] || { [ $$second -eq 5 ] && [ $$first -eq 0 ]; } || exit $$second

bench: $(VENV)/.dev translations
	$(BIN)/python bench/run.py

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.dev
	DEBUG=1 $(BIN)/python manage.py makemessages $(foreach locale,$(LOCALES),-l $(locale)) --no-obsolete --ignore '.venv/*' --ignore 'tests/*'

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts $(RUN_URL_FILE)
