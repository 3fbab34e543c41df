"""``albatross plan --offline``: what the model builder makes of a set of manifests,
without AWS or a cluster. Users run it in CI to review Ingress changes.

Exit status: 0 when it produced a result (member errors included, in ``errors``), 2 on
unusable input, with a one-line reason on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from albatross.aws import discovery as aws
from albatross.aws.errors import AlbatrossError
from albatross.contract import class_groups, object_key
from albatross.k8s.errors import readable
from albatross.k8s.ingress import GroupID
from albatross.k8s.ingress_class import parse_ingress_class
from albatross.k8s.params import parse_params
from albatross.k8s.service import parse_service
from albatross.model import builder
from albatross.model.config import ConfigError, ControllerConfig, from_yaml_dict
from albatross.model.discovery import Discovery, DiscoveryError
from albatross.model.group import groups_of, members_of
from albatross.model.stack import Stack
from albatross.plan.planner import plan


class InputError(Exception):
    """Input that cannot be used at all (exit 2)."""


def load_objects(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every object in the files (multi-document YAML or JSON; ``List`` kinds flattened)."""
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as e:
            raise InputError(f"{path}: {e}".splitlines()[0]) from e
        for doc in documents:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc:
                raise InputError(f"{path}: a document is not a Kubernetes object")
            items = doc.get("items") if str(doc["kind"]).endswith("List") else [doc]
            out.extend(i for i in items or [] if isinstance(i, dict))
    return out


def _read_mapping(path: Path | None, what: str, *, as_json: bool) -> Mapping[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text()
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise InputError(f"{what} {path}: {e}".splitlines()[0]) from e
    if not isinstance(data, Mapping):
        raise InputError(f"{what} {path}: must be a mapping")
    return data


DiscoveryFor = Callable[[str, list[Any]], Discovery]


def plan_offline(
    objects: Sequence[Mapping[str, Any]],
    config: ControllerConfig,
    discovery: Discovery,
    discovery_for: DiscoveryFor | None = None,
) -> dict[str, Any]:
    """The desired stacks of the objects. ``discovery_for(group, ingresses)``, when given,
    supplies each group's AWS facts (live plan) instead of the fixed ``discovery``."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(str(obj.get("kind")), []).append(obj)
    classes = {c.name: c for c in (parse_ingress_class(o) for o in by_kind.get("IngressClass", []))}
    ingresses = {object_key(o): o for o in by_kind.get("Ingress", []) if (o.get("metadata") or {}).get("namespace")}
    # A Service or IngressClassParams that cannot be read counts as missing for whatever
    # refers to it, which reports it.
    services = {s.key: s for s in readable(by_kind.get("Service", []), parse_service)}
    params = {p.name: p for p in readable(by_kind.get("IngressClassParams", []), parse_params)}
    namespaces = {
        str((o.get("metadata") or {}).get("name")): dict((o.get("metadata") or {}).get("labels") or {})
        for o in by_kind.get("Namespace", [])
    }
    stacks: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    grouped = class_groups(by_kind.get("IngressClass", []), by_kind.get("IngressClassParams", []))
    groups = groups_of(ingresses.values(), classes=classes, ingress_class=config.ingress_class, class_groups=grouped)
    for group, keys in sorted(groups.items()):
        members = members_of(
            group=group,
            keys=keys,
            objects=ingresses,
            classes=classes,
            ingress_class=config.ingress_class,
            class_groups=grouped,
        )
        built = builder.build(
            config=config,
            group=GroupID.parse(group),
            ingresses=members.live,
            services=services,
            discovery=discovery_for(group, members.live) if discovery_for else discovery,
            params=params,
            namespaces=namespaces or None,
        )
        found = dict(members.errors) | {e.ingress: e.reason for e in built.errors}
        errors.extend({"stack": group, "ingress": k, "reason": v} for k, v in sorted(found.items()))
        if built.stack is not None:
            stacks.append(built.stack.to_json())
    return {"stacks": stacks, "errors": errors}


def table(result: Mapping[str, Any]) -> str:
    lines: list[str] = []
    for stack in result["stacks"]:
        lines.append(f"stack {stack['stack']}")
        for rid, res in stack["resources"].items():
            props = res["properties"]
            kind = res["type"].rsplit("::", 1)[-1]
            detail = next((f"{k}={props[k]}" for k in ("Name", "GroupName", "Priority", "Port") if k in props), "")
            lines.append(f"  {kind:<14} {rid:<48} {detail}")
    for error in result["errors"]:
        lines.append(f"error {error['ingress']} (stack {error['stack']}): {error['reason']}")
    return "\n".join(lines) if lines else "no Ingress of this class"


def run(
    *, files: Sequence[Path], config_path: Path | None, discovery_path: Path | None, output: str
) -> tuple[int, str]:
    """(exit status, text to print)."""
    try:
        config = from_yaml_dict(_read_mapping(config_path, "config", as_json=False))
        discovery = Discovery.from_json(_read_mapping(discovery_path, "discovery", as_json=True))
        result = plan_offline(load_objects(files), config, discovery)
    except (InputError, ConfigError, DiscoveryError) as e:
        return 2, str(e)
    if output == "json":
        return 0, json.dumps(result, indent=2, sort_keys=True)
    return 0, table(result)


def run_live(*, files: Sequence[Path], config_path: Path | None, output: str) -> tuple[int, str]:
    """``albatross plan`` against AWS (or the endpoint in ``AWS_ENDPOINT_URL``): the steps
    that would make AWS match the manifests. Reads only; changes nothing."""
    try:
        config = from_yaml_dict(_read_mapping(config_path, "config", as_json=False))
        objects = load_objects(files)
        actuals: dict[str, Any] = {}

        def facts(group: str, ingresses: list[Any]) -> Discovery:
            actuals[group] = aws.find_stack(cluster=config.cluster, stack_id=group)
            return aws.discover(vpc_id=config.vpc_id, existing=aws.existing_load_balancers(actuals[group], group))

        result = plan_offline(objects, config, Discovery(), discovery_for=facts)
        steps = []
        for stack in result["stacks"]:
            desired = Stack.from_json(stack)
            actual = aws.complete(actuals[desired.stack_id], desired)
            steps += [
                {"stack": desired.stack_id, "op": s.op, "type": s.type, "id": s.id} for s in plan(desired, actual)
            ]
    except (InputError, ConfigError) as e:
        return 2, str(e)
    except AlbatrossError as e:
        return 1, f"AWS refused a read: {e}"
    if output == "json":
        return 0, json.dumps({"steps": steps, "errors": result["errors"]}, indent=2, sort_keys=True)
    lines = [f"{s['stack']:<32} {s['op']:<8} {s['type'].rsplit('::', 1)[-1]:<14} {s['id']}" for s in steps]
    lines += [f"error {e['ingress']} (stack {e['stack']}): {e['reason']}" for e in result["errors"]]
    return 0, "\n".join(lines) if lines else "no changes"
