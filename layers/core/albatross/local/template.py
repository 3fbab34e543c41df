"""Read ``template.yaml`` and translate it with aws-sam-translator, as ``sam package``
would: local ``CodeUri``/``ContentUri`` become S3 locations (remembered, so the local
runtime knows each function's code folder) and ``DefinitionUri`` files are inlined."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

_MANAGED = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSLambdaSQSQueueExecutionRole": "service-role/",
        "AWSXRayDaemonWriteAccess": "",
    }.items()
}


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # a MappingNode
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


class _StaticPolicies(ManagedPolicyLoader):  # type: ignore[misc]  # samtranslator ships no type information
    def __init__(self) -> None:
        self._policy_map = dict(_MANAGED)

    def load(self) -> dict[str, str]:
        return dict(_MANAGED)


def load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        data = yaml.load(f, Loader=_Loader)  # noqa: S506  # _Loader is a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return data


@dataclass(frozen=True)
class Translated:
    template: Mapping[str, Any]
    code_dirs: Mapping[str, Path]  # function logical id → its CodeUri folder


def translate(path: Path, parameters: Mapping[str, str]) -> Translated:
    root = path.parent
    sam = load(path)
    code_dirs: dict[str, Path] = {}
    for logical, res in sam.get("Resources", {}).items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function":
            code_dirs[logical] = (root / props["CodeUri"]).resolve()
            props["CodeUri"] = f"s3://albatross-local/{logical}.zip"
        elif res.get("Type") == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://albatross-local/{logical}.zip"
        elif res.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())
    out = transform(copy.deepcopy(sam), dict(parameters), _StaticPolicies())
    return Translated(template=out, code_dirs=code_dirs)


if __name__ == "__main__":
    # `python -m albatross.local.template template.yaml`: translate and print, so the
    # gate fails when aws-sam-translator rejects the template.
    import sys

    translated = translate(Path(sys.argv[1]), {"ClusterName": "check", "VpcId": "vpc-00000000"})
    print(json.dumps(translated.template, indent=1, sort_keys=True))
