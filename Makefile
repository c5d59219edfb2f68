# Developer entry points. A fresh machine needs only Python 3.11: uv is fetched into .tools/
# when it is not on PATH, and `uv sync --frozen` builds .venv from the committed uv.lock.
#
#   make demo [HOUSEHOLDS=20000]   migrate + seed the embedded SQLite db, then runserver
#   make test [PYTEST_ARGS=...]    the whole pytest suite
#   make fuzz [FUZZ_EXAMPLES=200]  schemathesis over the whole API as each role, many examples
#   make smoke                     seed a throw-away SQLite db and request every page as every demo user
#   make lint                      ruff check + ruff format --check
#   make clean / make distclean

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

HOUSEHOLDS ?= 20000
SMOKE_HOUSEHOLDS ?= 300
FUZZ_EXAMPLES ?= 200
DEMO_ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?= -n 2 --durations=15

export UV_PYTHON_DOWNLOADS := never

# uv from PATH if there is one, else our own copy in .tools/.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif
PYTHON_BOOTSTRAP := $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)

RUN := $(UV) run --no-sync
MANAGE := $(RUN) python manage.py
# The demo and the smoke test are SQLite + eager Celery whatever the developer's shell says.
# (The demo keys in config/settings/local.py apply too, so the demo db always decrypts.)
DEMO_ENV := env -u DATABASE_URL -u REDIS_URL -u CELERY_TASK_ALWAYS_EAGER -u MEDIA_ROOT \
	-u SECRET_KEY -u PII_ENCRYPTION_KEYS -u PII_HASH_KEY \
	DJANGO_SETTINGS_MODULE=config.settings.local DEBUG=true

.PHONY: help env demo test fuzz smoke lint clean distclean

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

.tools/bin/uv:
	@test -n "$(PYTHON_BOOTSTRAP)" || { echo "Python 3.11 is required (python3.11 or python3 on PATH)" >&2; exit 1; }
	$(PYTHON_BOOTSTRAP) -m venv .tools
	.tools/bin/pip install --quiet uv

env: $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen

demo: env
	$(DEMO_ENV) $(MANAGE) migrate --noinput
	$(DEMO_ENV) $(MANAGE) seed_demo --households $(HOUSEHOLDS)
	$(DEMO_ENV) $(MANAGE) runserver $(DEMO_ADDR)

# pytest exits 5 when it collects nothing; make treats that as the failure it is.
test: env
	$(RUN) pytest -p no:cacheprovider $(PYTEST_ARGS)

# The quick run of tests/test_fuzz.py is part of `make test`; this one adds the coverage phase.
fuzz: env
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(RUN) pytest -p no:cacheprovider tests/test_fuzz.py

smoke: env
	tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/fupin-smoke.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	run() { $(DEMO_ENV) DATABASE_URL="sqlite:///$$tmp/smoke.sqlite3" MEDIA_ROOT="$$tmp/media" $(MANAGE) "$$@"; }; \
	run migrate --noinput; \
	run seed_demo --households $(SMOKE_HOUSEHOLDS); \
	run smoke_pages

lint: env
	$(RUN) ruff check .
	$(RUN) ruff format --check .

clean:
	find . -path ./.venv -prune -o -path ./.tools -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
	rm -rf .pytest_cache .ruff_cache .hypothesis staticfiles test-results bench/out

distclean: clean
	rm -rf .venv .tools db.sqlite3 media
