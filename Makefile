# The two set-up commands are `make run` and `make test`; each installs what it needs into .venv.
SHELL := /bin/bash
# Lambda runs python3.13: use the same interpreter locally when pyenv has it.
PYTHON ?= $(shell p=$$(pyenv prefix 3.13.0 2>/dev/null)/bin/python3.13; [ -x "$$p" ] && echo $$p || (command -v python3.13 || command -v python3))
VENV := .venv
TOOLS := .venv-tools
PORT ?= 3000
BROWSER := /usr/bin/chromium

.PHONY: run test lint build deploy bench openapi clean

$(VENV)/.installed: pyproject.toml layers/core/requirements.txt requirements-dev.txt
	@echo "Installing the Python environment into $(VENV) (first run, or the requirements changed): about a minute..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r layers/core/requirements.txt -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@
	@echo "Installed."

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check -r requirements-tools.txt
	touch $@

# The console's browser test drives Debian's Chromium (no browser download: the network has none).
$(BROWSER):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: $(VENV)/.installed
	$(VENV)/bin/automations serve --port $(PORT)

# The end-to-end tests run in their own processes: moto's mock_aws (unit and handler tests) resets
# the same in-process backends that the local runtime's moto server uses.
# Each test also checks its AWS calls (API model, IAM) and records them in .aws-calls for
# `automations iam-report`. Where the time goes: each run's slowest set-ups and calls
# (--durations), each layer's total (tests/conftest.py) and each run's wall clock.
PYTEST := PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(VENV)/bin/pytest -n 2 --durations=15 --durations-min=2
test: $(VENV)/.installed $(TOOLS)/.installed $(BROWSER)
	rm -rf .aws-calls
	$(PYTEST) tests/unit tests/handlers $(PYTEST_ARGS)
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

# template.yaml and the stacks it nests (stacks/): each validated and linted on its own.
TEMPLATES := template.yaml $(sort $(wildcard stacks/*.yaml))

lint: $(TOOLS)/.installed
	for template in $(TEMPLATES); do $(TOOLS)/bin/sam validate --lint --template $$template || exit 1; done
	$(TOOLS)/bin/cfn-lint $(TEMPLATES)

# sam build without Docker needs python3.13 first on PATH (the venv's interpreter is one). It builds
# the nested stacks too (.aws-sam/build/<stack>/), the layer once, in the core stack.
build: $(VENV)/.installed $(TOOLS)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(TOOLS)/bin/sam build --template template.yaml

# Builds, then deploys samconfig.toml's env ENV (default: the dev stack) with its whole parameter
# list and Release, the hash of what it ships: without it a layer or parameter change would never
# reach the live alias (docs/deploying.md). SET="SafeDeploys=false" changes a value for this deploy.
ENV ?= default
deploy: $(VENV)/.installed $(TOOLS)/.installed
	$(VENV)/bin/automations deploy --env $(ENV) $(foreach change,$(SET),--set $(change))

bench: $(VENV)/.installed
	$(VENV)/bin/automations bench

# The native API's OpenAPI document, generated from the handlers; a test fails when it is stale.
openapi: $(VENV)/.installed
	$(VENV)/bin/automations openapi

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam
