# `make run`: set up and open the app on the shipped checkpoints. `make test`: set up and run every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test
run: $(VENV)/.installed
	$(PY) -m streamlit run app.py

test: $(VENV)/.installed
	$(PY) -m pytest

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@
