# The Lambda artifact (tools/package.py): `make package` builds .aws-sam/build for the
# template's runtime and arm64, as `sam build` lays it out, ready for `sam deploy`;
# `make package ARCH=x86_64` builds the same pinned set for x86_64. `make package-smoke`
# builds it for this machine's architecture into .aws-sam/smoke, where the tests run it
# (tests/functional/test_artifact.py, tests/e2e/test_artifact_demo.py) and `make bench`
# times its cold starts. `make lock` re-pins the layer (layers/core/requirements.txt,
# with hashes, from requirements.in).
package_mk_default_goal := $(.DEFAULT_GOAL)
ARCH       ?= arm64
BUILD_DIR  ?= .aws-sam/build
HOST_ARCH  := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
SMOKE_DIR  := .aws-sam/smoke
SMOKE_STAMP := $(SMOKE_DIR)/albatross-build.json
PACKAGE_INPUTS := template.yaml layers/core/requirements.txt tools/package.py \
	$(shell find layers/core/albatross functions -name '*.py' -not -path '*/__pycache__/*')

.PHONY: package package-smoke lock

package: $(STAMP)
	$(BIN)/python tools/package.py --arch $(ARCH) --out $(BUILD_DIR)

$(SMOKE_STAMP): $(STAMP) $(PACKAGE_INPUTS)
	$(BIN)/python tools/package.py --arch $(HOST_ARCH) --out $(SMOKE_DIR)

package-smoke: $(SMOKE_STAMP)

lock: $(STAMP)
	cd layers/core && ../../$(BIN)/uv pip compile requirements.in --generate-hashes --universal \
	  --python-version 3.12 --no-header --quiet -o requirements.txt
	sed -i '1i # The Lambda layer'"'"'s dependencies, pinned with hashes: generated from requirements.in by `make lock`.\n# sam build and make package install exactly these (pip checks every hash).' layers/core/requirements.txt

.DEFAULT_GOAL := $(package_mk_default_goal)
