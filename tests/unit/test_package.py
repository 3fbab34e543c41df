"""tools/package.py's decisions, checked against the code they serve: the botocore models
the layer keeps cover every client the shipped modules make; the built template points
at the build folders as ``sam build``'s does."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from albatross.aws.clients import LAYER_SERVICES
from tools.package import LOCAL_ONLY, load_template, rewrite_template

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "layers/core/albatross"


def getters() -> dict[str, str]:
    """clients.py's typed getters → the service each names."""
    tree = ast.parse((CORE / "aws/clients.py").read_text())
    out = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            found = re.search(r"client\(['\"]([a-z0-9-]+)['\"]\)", ast.unparse(fn))
            if found and fn.name != "client":
                out[fn.name] = found.group(1)
    return out


def shipped_sources() -> list[Path]:
    skipped = tuple(CORE / part for part in LOCAL_ONLY)
    layer = [p for p in CORE.rglob("*.py") if not p.is_relative_to(skipped[0]) and not p.is_relative_to(skipped[1])]
    return layer + sorted((ROOT / "functions").rglob("*.py"))


def test_the_layer_keeps_the_model_of_every_client_the_shipped_code_makes() -> None:
    named = getters()
    used = set()
    for path in shipped_sources():
        for call in re.findall(r"clients\.([a-z_0-9]+)\(", path.read_text()):
            if call in named:
                used.add(named[call])
    assert used  # the scan sees the controller's clients
    assert used <= LAYER_SERVICES, sorted(used - LAYER_SERVICES)


def test_the_built_template_points_at_the_build_folders() -> None:
    text = (ROOT / "template.yaml").read_text()
    uris = {"functions/ingest/": "IngestFunction", "layers/core/": "CoreLayer"}
    uris |= {"functions/reconcile/": "ReconcileFunction", "functions/step/": "StepFunction"}
    uris |= {"functions/drift/": "DriftFunction"}
    built = rewrite_template(text, uris=uris, arch="x86_64", up="../..")
    resources: dict[str, Any] = load_template(built)["Resources"]
    assert resources["IngestFunction"]["Properties"]["CodeUri"] == "IngestFunction"
    assert resources["CoreLayer"]["Properties"]["ContentUri"] == "CoreLayer"
    assert resources["CoreLayer"]["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    assert resources["CoreLayer"]["Metadata"]["BuildArchitecture"] == "x86_64"
    definition = resources["ProvisionStateMachine"]["Properties"]["DefinitionUri"]
    assert definition == "../../statemachines/provision.asl.json"
    assert load_template(built)["Globals"]["Function"]["Architectures"] == ["x86_64"]
