# The forwarder image and what stands for it in the tests. Included by the Makefile
# (`include mk/*.mk`, after $(STAMP) and before the rules that name $(FORWARDER_VENV_STAMP)).
#   make lock-forwarder  forwarder/requirements.in → forwarder/requirements.lock (UPGRADE=1: newer versions)
#   make image           the multi-arch image: IMAGE, TAG, PLATFORMS, PUSH=1 (below)
#   make venv-forwarder  .venv-forwarder: the lock and the files the image holds, installed
#                        as forwarder/Dockerfile installs them, with the image's Python (3.12)

# a rule here must not become `make`'s default goal: put back whatever it was
FORWARDER_DEFAULT_GOAL := $(.DEFAULT_GOAL)

FORWARDER_VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' forwarder/pyproject.toml)
FORWARDER_LOCK    := forwarder/requirements.lock

.PHONY: lock-forwarder image venv-forwarder .venv-forwarder clean-forwarder

# --- the lock: one for both architectures, every file's hash; uv keeps the versions already
# in the lock unless UPGRADE=1 (the direct pins come from requirements.in either way)
lock-forwarder: $(STAMP)
	$(BIN)/uv pip compile --quiet --no-config --universal --generate-hashes --python-version 3.12 \
	  --custom-compile-command 'make lock-forwarder' $(if $(UPGRADE),--upgrade) \
	  --output-file $(FORWARDER_LOCK) forwarder/requirements.in

# --- the image. Building the other architecture runs its RUN steps under QEMU: docker needs
# binfmt_misc handlers registered (docker/setup-qemu-action in CI) and a builder that builds
# for several platforms (the containerd image store, or `docker buildx create --use` once),
# podman and buildah qemu-user-static. Without PUSH the image stays local: docker loads a single platform into
# its image store (several stay in the buildx cache: PUSH=1, or PLATFORMS=linux/amd64 to run
# it), podman and buildah keep a manifest list named $(IMAGE):$(TAG).
IMAGE     ?= albatross-forwarder
TAG       ?= $(FORWARDER_VERSION)
PLATFORMS ?= linux/amd64,linux/arm64
PUSH      ?=
DOCKER    ?= docker
PODMAN    ?= podman
BUILDAH   ?= buildah
# the first present of docker (with its buildx plugin), podman, buildah; evaluated only
# when `make image` runs. IMAGE_BUILDER=podman (or docker, buildah) picks one.
IMAGE_BUILDER ?= $(shell if $(DOCKER) buildx version >/dev/null 2>&1; then echo docker; \
  elif command -v $(PODMAN) >/dev/null 2>&1; then echo podman; \
  elif command -v $(BUILDAH) >/dev/null 2>&1; then echo buildah; fi)

FORWARDER_IMAGE_REF := $(IMAGE):$(TAG)
FORWARDER_COMMA := ,

# docker: one multi-platform build; --push sends the image index with both platforms
define forwarder-image-docker
$(strip $(DOCKER) buildx build --platform $(PLATFORMS) --file forwarder/Dockerfile --tag $(FORWARDER_IMAGE_REF) \
  $(if $(PUSH),--push,$(if $(findstring $(FORWARDER_COMMA),$(PLATFORMS)),,--load)) .)
endef
# podman and buildah: one image per platform, gathered in a manifest list, which a build
# appends to: so drop any old list of that name first
define forwarder-image-podman
$(PODMAN) manifest exists $(FORWARDER_IMAGE_REF) && $(PODMAN) manifest rm $(FORWARDER_IMAGE_REF) || true
$(PODMAN) build --platform $(PLATFORMS) --manifest $(FORWARDER_IMAGE_REF) --file forwarder/Dockerfile \
  --ignorefile forwarder/Dockerfile.dockerignore .
$(if $(PUSH),$(PODMAN) manifest push --all $(FORWARDER_IMAGE_REF) docker://$(FORWARDER_IMAGE_REF))
endef
define forwarder-image-buildah
$(BUILDAH) manifest rm $(FORWARDER_IMAGE_REF) >/dev/null 2>&1 || true
$(BUILDAH) build --platform $(PLATFORMS) --manifest $(FORWARDER_IMAGE_REF) --file forwarder/Dockerfile \
  --ignorefile forwarder/Dockerfile.dockerignore .
$(if $(PUSH),$(BUILDAH) manifest push --all $(FORWARDER_IMAGE_REF) docker://$(FORWARDER_IMAGE_REF))
endef
define forwarder-image-
$(error make image needs docker (with the buildx plugin: `docker buildx version`), podman or buildah, and found none of the three$(if $(shell command -v $(DOCKER)), ($(DOCKER) is there but without buildx: install docker-buildx-plugin)))
endef

image:
	$(if $(TAG),,$(error no TAG: forwarder/pyproject.toml names no version; say TAG=...))
	$(forwarder-image-$(IMAGE_BUILDER))

# --- .venv-forwarder: what tests/e2e/test_forwarder_image.py runs the forwarder from.
# Rebuilt from scratch when the lock changes; our two packages reinstalled when their files
# change (the stamps' names hash what they come from).
FORWARDER_VENV := .venv-forwarder
FORWARDER_PIP  := $(FORWARDER_VENV)/bin/python -m pip
# what forwarder/Dockerfile copies of our code (and forwarder/Dockerfile.dockerignore lets in)
FORWARDER_SOURCES := forwarder/contract.pyproject.toml forwarder/pyproject.toml \
  layers/core/albatross/__init__.py layers/core/albatross/py.typed \
  $(shell find layers/core/albatross/contract forwarder/albatross_forwarder -type f -not -path '*/__pycache__/*' | LC_ALL=C sort)
FORWARDER_LOCK_STAMP := $(FORWARDER_VENV)/.lock-$(shell cat $(wildcard $(FORWARDER_LOCK)) | sha256sum | cut -c1-12)
FORWARDER_VENV_STAMP := $(FORWARDER_VENV)/.installed-$(shell { echo $(FORWARDER_SOURCES); cat $(wildcard $(FORWARDER_LOCK)) $(FORWARDER_SOURCES); } | sha256sum | cut -c1-12)
# The image's Python: python3.12 if it runs (a pyenv shim on PATH may not), else pyenv's 3.12.
# Evaluated only when the venv is built.
FORWARDER_PYTHON = $(shell for p in python3.12 "$$(pyenv prefix 3.12 2>/dev/null)/bin/python3.12"; do \
  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)

$(FORWARDER_LOCK_STAMP): $(FORWARDER_LOCK)
	rm -rf $(FORWARDER_VENV)
	@py='$(FORWARDER_PYTHON)'; \
	if [ -z "$$py" ]; then \
	  echo "warning: no Python 3.12 (python3.12, pyenv's 3.12): $(FORWARDER_VENV) gets $(PYTHON), not the image's Python" >&2; \
	  py='$(PYTHON)'; \
	fi; \
	echo "$$py -m venv $(FORWARDER_VENV)"; "$$py" -m venv $(FORWARDER_VENV)
	$(FORWARDER_PIP) install -q --require-hashes --no-deps --only-binary=:all: -r $(FORWARDER_LOCK)
	touch $@

# As the Dockerfile: the same files at the same places (src/core, src/forwarder), built by
# the lock's setuptools without build isolation, which then goes. pip stays (the tests run
# `pip check` here); the image has none.
$(FORWARDER_VENV_STAMP): $(FORWARDER_LOCK_STAMP) $(FORWARDER_SOURCES)
	rm -f $(FORWARDER_VENV)/.installed-*
	rm -rf $(FORWARDER_VENV)/src
	mkdir -p $(FORWARDER_VENV)/src/core/albatross $(FORWARDER_VENV)/src/forwarder
	cp forwarder/contract.pyproject.toml $(FORWARDER_VENV)/src/core/pyproject.toml
	cp layers/core/albatross/__init__.py layers/core/albatross/py.typed $(FORWARDER_VENV)/src/core/albatross/
	cp -R layers/core/albatross/contract $(FORWARDER_VENV)/src/core/albatross/contract
	cp forwarder/pyproject.toml $(FORWARDER_VENV)/src/forwarder/
	cp -R forwarder/albatross_forwarder $(FORWARDER_VENV)/src/forwarder/albatross_forwarder
	find $(FORWARDER_VENV)/src -name __pycache__ -prune -exec rm -rf {} +
	$(FORWARDER_PIP) install -q --require-hashes --no-deps --only-binary=:all: -r $(FORWARDER_LOCK)
	$(FORWARDER_PIP) install -q --no-deps --no-build-isolation --force-reinstall \
	  $(FORWARDER_VENV)/src/core $(FORWARDER_VENV)/src/forwarder
	$(FORWARDER_PIP) uninstall -q --yes setuptools
	touch $@

venv-forwarder .venv-forwarder: $(FORWARDER_VENV_STAMP)

clean-forwarder:
	rm -rf $(FORWARDER_VENV)

clean: clean-forwarder

.DEFAULT_GOAL := $(FORWARDER_DEFAULT_GOAL)
