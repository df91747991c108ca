# make demo: set everything up and run the main job on the shipped plan.
# make test: set everything up, run ruff and mypy, then the whole test suite (what CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

# Debian packages the tests need, installed only when missing (CI runs on a clean machine).
TEST_DEBS := dovecot-imapd libreoffice-writer-nogui fonts-liberation2 poppler-utils chromium

.PHONY: demo test clean debs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/dondoc validate
	$(BIN)/dondoc demo --out var/demo

debs:
	@bash scripts/ensure-debs.sh $(TEST_DEBS)

# Lint and type-check first (seconds), then the suite (minutes), on two workers, each test file on one
# (its module fixtures, e.g. the demo's year, run once). Paths and settings: pyproject.toml.
LINTED := dondoc flows models tests bench templates/docx

test: $(STAMP) debs
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) var *.egg-info
