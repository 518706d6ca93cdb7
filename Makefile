# gdd: `make test` (the test command), `make book`, `make reproduce PROFILE=cpu|gpu|paper`
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export GDD_DATA ?= $(CURDIR)/data
export GDD_RESULTS ?= $(CURDIR)/results
PROFILE ?= cpu

.PHONY: env test data

env: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[book,test]"
	touch $@

data: env
	$(VENV)/bin/gdd data fetch mnist fashion_mnist

test: env
	$(PY) -m pytest -q
