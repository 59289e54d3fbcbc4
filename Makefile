# Two commands a newcomer needs: `make run` and `make test`. The rest are for maintainers.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= default
# The real data beside the checkout, when it is there (maintainers' machines); else kagglehub or the phantom.
SHARED_DATA := $(abspath ../shared/data/brain-tumor-mri-dataset)
REAL_DATA = $(if $(wildcard $(SHARED_DATA)),BRAINMRI_DATA=$${BRAINMRI_DATA:-$(SHARED_DATA)})

.PHONY: install run test figures bench clean

# requirements-dev.txt includes requirements-local.txt (Jupyter, kernel and runner pins), which includes
# requirements.txt (what Colab installs too).
$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

install: $(STAMP)

## Execute every notebook in order on the best data available; figures go to figures/.
run: install
	BRAINMRI_PROFILE=$${BRAINMRI_PROFILE:-$(PROFILE)} $(BIN)/python -m brainmri run-notebooks

## The whole test suite, notebooks included (smoke profile, synthetic data, offline).
test: install
	$(BIN)/python -m pytest

## The real-data run that renders the README's figures and numbers.
figures: install
	$(REAL_DATA) BRAINMRI_PROFILE=$${BRAINMRI_PROFILE:-default} $(BIN)/python -m brainmri run-notebooks
	$(BIN)/python -m brainmri render-readme

## Every benchmark script; each prints a ratio against a baseline measured in the same run.
bench: install
	$(REAL_DATA) BRAINMRI_PROFILE=$${BRAINMRI_PROFILE:-default} $(BIN)/python -m brainmri run-benchmarks

clean:
	rm -rf $(VENV) data/cache data/phantom runs
