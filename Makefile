# One gate: `make test` (format, lint, types, import layers, template, state machines,
# tests). `make demo` runs the whole system offline. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/core/pyproject.toml forwarder/pyproject.toml | sha256sum | cut -c1-12)
include mk/*.mk

.PHONY: install demo bench bench-scale manifests test lint format typecheck imports template statemachines pytest clean

$(STAMP):
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -e 'layers/core[local]' -e forwarder
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/albatross local demo

bench: $(STAMP) $(SMOKE_STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.coldstart --build $(SMOKE_DIR)

# Issue 16's scale scenarios on the realistic local AWS (long: not part of `make bench`);
# SCALE_COUNTS Ingresses per run, e.g. `make bench-scale SCALE_COUNTS="100 300 900"`. Then
# the forwarder at 100,000 watched objects (`make bench` runs it at 10,000).
SCALE_COUNTS ?= 100 300
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --count $(SCALE_COUNTS)
	$(BIN)/python -m bench.forwarder --objects 100000

# deploy/forwarder.yaml, the forwarder's kustomize base rendered for `kubectl apply -f`;
# tests/unit/test_deploy.py fails when the two differ.
KUBECTL  ?= kubectl
RENDERED := deploy/forwarder.yaml
manifests:
	$(KUBECTL) kustomize forwarder/deploy > $(RENDERED).tmp
	{ echo "# Rendered from forwarder/deploy by \`make manifests\`: edit the base, not this file."; \
	  cat $(RENDERED).tmp; } > $(RENDERED)
	rm $(RENDERED).tmp

test: lint pytest

lint: $(STAMP) format typecheck imports template statemachines
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

template: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/python -m albatross.local.template template.yaml > /dev/null

statemachines: $(STAMP)
	$(BIN)/statelint statemachines/*.asl.json

# the tests wait on queues and timers far more than they compute: six workers on two cores;
# worksteal, because the end-to-end tests (tens of seconds each) come first in collection
# order and xdist's default hands each worker a fixed chunk of them: the rest sat idle
# while two workers ran their chunks to the end (16 min against 11.7 on a loaded machine).
# They run what we ship: the built artifact, the forwarder's locked venv, the workflows' linter
pytest: $(STAMP) $(SMOKE_STAMP) $(FORWARDER_VENV_STAMP) $(ACTIONLINT_STAMP)
	$(BIN)/pytest -n 6 --dist worksteal

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
