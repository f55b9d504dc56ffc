# django-livechat: `make demo` serves the example site, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: e2e-deps help venv demo test test-fast test-services test-matrix lint format build bench e2e messages soak clean

help:
	@echo "make demo    serve example_site with working chat on http://$(HOST):$(PORT)"
	@echo "make test    the whole suite (SQLite + in-memory; then PostgreSQL + Redis, found on"
	@echo "             127.0.0.1:5432 and :6379 or named by LIVECHAT_TEST_DATABASE_URL and"
	@echo "             LIVECHAT_TEST_REDIS_URL; LIVECHAT_TEST_SERVICES=off skips that pass)"
	@echo "make test-matrix  pass 1 on Python 3.12 + Django 6 and Python 3.13 + Django 5.2"
	@echo "make lint    ruff check and format check, mypy --strict over django_livechat"
	@echo "make build   sdist and wheel, checked by twine"
	@echo "make bench   benchmarks against the Channels tutorial pattern"
	@echo "make soak    one million messages through two servers while they and Redis are killed"

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,dev,servers]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	cd example_site && ../$(PY) manage.py migrate --noinput
	cd example_site && ../$(PY) manage.py demo_users
	@echo "Open http://$(HOST):$(PORT)/ in two browsers (Ctrl-C stops the server)."
	@echo "Staff console: http://$(HOST):$(PORT)/chat/console/ (log in as staff/staff)."
	@echo "Private rooms and direct messages: log in as alice/alice, bob/bob or carol/carol."
	cd example_site && ../$(PY) manage.py runserver $(HOST):$(PORT)

# The browser tests need Debian's Chromium: installed here when missing (as root); without it
# they skip with the reason printed.
test: $(STAMP)
	@$(MAKE) --no-print-directory e2e-deps || echo "SKIPPED installing Chromium (needs root and apt-get): the browser tests will skip"
	bash .ci/test

test-matrix:
	bash .ci/matrix

# Debian's Chromium for the browser tests (never a downloaded browser); needs root, as CI is.
e2e-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@/usr/bin/chromium --version

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy django_livechat
	cd example_site && ../$(PY) manage.py makemigrations --check --dry-run django_livechat

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

build: $(STAMP)
	rm -rf dist build
	$(PY) -m build --sdist --wheel --outdir dist . >/dev/null
	$(BIN)/twine check --strict dist/*
	$(PY) .ci/check_dist.py dist

# Benchmarks against the Channels tutorial pattern (benchmarks/README.md); BENCH_ARGS=--quick for a
# smoke run. matplotlib (the plot) and py-spy (--profile) are optional extras.
bench: $(STAMP)
	-$(PY) -m pip install --quiet matplotlib py-spy
	$(PY) -m benchmarks $(BENCH_ARGS)

# The soak (docs/deployment.md, "Soak"): starts PostgreSQL and Redis on 127.0.0.1 if they are down
# (as CI does); SOAK_MESSAGES=100000 for a shorter run, SOAK_ARGS for the other options.
SOAK_MESSAGES ?= 1000000
soak: $(STAMP)
	bash .ci/services
	$(PY) -m tests.integration.soak --messages $(SOAK_MESSAGES) $(SOAK_ARGS)

messages: $(STAMP)
	cd django_livechat && ../$(PY) -m django makemessages -l zh_Hans --settings=tests.settings --pythonpath=.. \
	  && ../$(PY) -m django makemessages -d djangojs -l zh_Hans --settings=tests.settings --pythonpath=.. \
	  && ../$(PY) -m django compilemessages --settings=tests.settings --pythonpath=..

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .ruff_cache .mypy_cache .coverage htmlcov
