"""``albatross plan``: what the model builder makes of a set of manifests, without AWS
or a cluster (``--offline``; users run it in CI to review Ingress changes), or the steps
that would make a stack's account match them (live, read-only).

One bad object never costs the others their plan: an object that cannot be read at all
(not a Kubernetes object, no ``metadata.name``, a malformed Service, ...) is one entry of
``invalid`` naming it; an Ingress of ours that cannot be built is one entry of
``errors``; everything else is planned. Either, or a step the reconcile would refuse,
makes the plan :attr:`Planned.failed` (exit 1, :meth:`Planned.exit_status`; the result
still printed); input that cannot be used at all (a file that is not
YAML, a bad ``--config`` or ``--discovery``) is a CliError, one line.

A live plan uses the settings of the stack's functions (the ingest function's
environment: cluster, VPC, class, region), so it plans what the reconcile would, unless
``--config`` names others (a cluster with no stack yet). Target group names hash the
Service's UID, which hand-written manifests leave out: the plan then takes the UID of
the live Service, from the snapshot the state table holds, and says so in a note.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from albatross.aws import applier, clients
from albatross.aws import discovery as aws
from albatross.aws.errors import AlbatrossError, aws_errors
from albatross.cli import stack as cli_stack
from albatross.cli.stack import CliError
from albatross.contract import class_groups
from albatross.k8s.errors import ObjectError, partition, readable, unexpected
from albatross.k8s.ingress import Ingress, routing_view
from albatross.k8s.ingress_class import parse_ingress_class
from albatross.k8s.params import parse_params
from albatross.k8s.service import parse_service
from albatross.model import assemble
from albatross.model.config import ConfigError, ControllerConfig, from_yaml_dict
from albatross.model.discovery import Discovery, DiscoveryError
from albatross.model.group import groups_of
from albatross.model.stack import Stack
from albatross.plan import protection
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.planner import plan
from albatross.store.table import Store


class InputError(Exception):
    """Input that cannot be used at all (exit 1, nothing planned)."""


@dataclass
class Planned:
    """What ``albatross plan`` prints, and what its exit status says."""

    document: dict[str, Any]  # --output json
    text: str  # --output table
    failed: bool  # an Ingress cannot be built, an object cannot be read, a step would be refused
    changes: bool = False  # live: there are steps to take

    def render(self, output: str) -> str:
        return json.dumps(self.document, indent=2, sort_keys=True) if output == "json" else self.text

    def exit_status(self, *, detailed: bool = False) -> int:
        """README.md's "Exit status": 1 for a plan that failed (an Ingress that cannot be
        built, an object that cannot be read, a step the reconcile would refuse); else 0,
        or under ``--detailed-exitcode`` 2 when there are changes to make."""
        if self.failed:
            return 1
        return 2 if detailed and self.changes else 0


@dataclass
class Manifests:
    """The objects of the ``-f`` files, where each one came from (for messages), and the
    documents that are not Kubernetes objects."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)


def read_manifests(paths: Iterable[Path]) -> Manifests:
    """Every object in the files (multi-document YAML or JSON; ``List`` kinds flattened).
    A file that cannot be read or parsed is an InputError; a document or ``List`` item
    that is not a Kubernetes object is an ``invalid`` entry."""
    out = Manifests()
    for path in paths:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise InputError(f"{path}: {e}".splitlines()[0]) from e
        except RecursionError:
            raise InputError(f"{path}: nested too deeply to read") from None
        for number, doc in enumerate(documents, start=1):
            where = f"{path.name}, document {number}"
            if doc is None:
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not doc["kind"]:
                out.invalid.append({"object": where, "reason": "not a Kubernetes object (no kind)"})
                continue
            if not doc["kind"].endswith("List"):
                out.objects.append(doc)
                out.sources.append(where)
                continue
            items = doc.get("items")
            if not isinstance(items, list):
                if items is not None:
                    out.invalid.append({"object": f"{doc['kind']} ({where})", "reason": "items must be a list"})
                continue
            for index, item in enumerate(items):
                inner = f"{where}, item {index}"
                if isinstance(item, dict) and isinstance(item.get("kind"), str) and item["kind"]:
                    out.objects.append(item)
                    out.sources.append(inner)
                else:
                    out.invalid.append({"object": inner, "reason": "not a Kubernetes object (no kind)"})
    return out


def load_objects(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every object in the files (see :func:`read_manifests`), without the documents
    that are not objects."""
    return read_manifests(paths).objects


def _read_mapping(path: Path | None, what: str, *, as_json: bool) -> Mapping[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text()
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise InputError(f"{what} {path}: {e}".splitlines()[0]) from e
    except RecursionError:
        raise InputError(f"{what} {path}: nested too deeply to read") from None
    if not isinstance(data, Mapping):
        raise InputError(f"{what} {path}: must be a mapping")
    return data


DiscoveryFor = Callable[[str, list[Any]], Discovery]

# The kinds plan reads; other objects in the files (Deployments, ...) are not its business.
_READ = ("Ingress", "Service", "IngressClass", "IngressClassParams", "Namespace")


def _label(kind: str, obj: Mapping[str, Any], source: str) -> str:
    """How a message names an object: ``Kind namespace/name`` when it has a name, else
    where it is in the files."""
    meta = routing_view(obj)["metadata"]
    name, namespace = meta.get("name"), meta.get("namespace")
    if name:
        return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    return f"{kind} ({source})" if source else kind


def _identity_problem(kind: str, obj: Mapping[str, Any]) -> str | None:
    """Why an object cannot even be keyed: no metadata.name (an Ingress or Service
    needs its namespace too: it is part of names and group identity)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return "has no metadata"
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        return "has no metadata.name"
    if kind in ("Ingress", "Service") and (not isinstance(meta.get("namespace"), str) or not meta["namespace"]):
        return "has no metadata.namespace (plan needs it: Albatross names resources after it)"
    return None


def _namespace_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    if labels is None:
        return {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise ObjectError("metadata.labels must map labels to strings")
    return {str(k): v for k, v in labels.items()}


def plan_offline(
    objects: Sequence[Mapping[str, Any]],
    config: ControllerConfig,
    discovery: Discovery,
    discovery_for: DiscoveryFor | None = None,
    *,
    sources: Sequence[str] = (),
    teardowns: dict[str, list[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The desired stacks of the objects. ``discovery_for(group, ingresses)``, when given,
    supplies each group's AWS facts (live plan) instead of the fixed ``discovery``;
    ``sources`` says where each object came from (for messages about objects without a
    name). ``teardowns``, when given, receives each group that builds no stack because
    its members are all leaving, with the objects of those being deleted (a live plan
    plans their teardown)."""
    invalid: list[dict[str, str]] = []
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for number, obj in enumerate(objects):
        kind = obj.get("kind") if isinstance(obj, Mapping) else None
        source = sources[number] if number < len(sources) else f"object {number + 1}"
        if not isinstance(kind, str) or not isinstance(obj, Mapping):
            invalid.append({"object": source, "reason": "not a Kubernetes object (no kind)"})
            continue
        if kind not in _READ:
            continue
        problem = _identity_problem(kind, obj)
        if problem:
            invalid.append({"object": _label(kind, obj, source), "reason": problem})
            continue
        by_kind.setdefault(kind, []).append(obj)

    # Parsed here for the ``invalid`` entries only: the assembly reads the objects itself,
    # as the reconcile does (one path for both, which the golden tests pin).
    for kind, parse in (
        ("IngressClass", parse_ingress_class),
        ("Service", parse_service),
        ("IngressClassParams", parse_params),
    ):
        bad = partition(by_kind.get(kind, []), parse)[1]
        invalid.extend({"object": _label(kind, o, ""), "reason": reason} for o, reason in bad)
    namespaces: dict[str, Mapping[str, Any]] = {}
    for obj in by_kind.get("Namespace", []):
        try:
            _namespace_labels(obj)
            namespaces[str(obj["metadata"]["name"])] = obj
        except ObjectError as e:
            invalid.append({"object": _label("Namespace", obj, ""), "reason": str(e)})
    ingresses = {_key("Ingress", o): o for o in by_kind.get("Ingress", [])}
    stored = {"Service": {_key("Service", o): o for o in by_kind.get("Service", [])}, "Namespace": namespaces}
    stacks: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    files = _Files(
        classes=by_kind.get("IngressClass", []),
        params=by_kind.get("IngressClassParams", []),
        stored=stored,
        facts=lambda group, live: discovery_for(group, live) if discovery_for else discovery,
    )
    classes = {c.name: c for c in readable(files.ingress_classes(), parse_ingress_class)}
    grouped = class_groups(
        [o for o in files.ingress_classes() if assemble.shaped(o)],
        [o for o in files.class_params() if assemble.shaped(o)],
    )
    groups = groups_of(ingresses.values(), classes=classes, ingress_class=config.ingress_class, class_groups=grouped)
    for group, keys in sorted(groups.items()):
        files.group = group
        try:
            members = assemble.classify(
                source=files, group=group, keys=keys, objects=ingresses, ingress_class=config.ingress_class
            )
        except Exception as e:  # noqa: BLE001  # one group's defect must not cost the others their plan
            errors.extend({"stack": group, "ingress": k, "reason": unexpected(e)} for k in sorted(set(keys)))
            continue
        # a live plan's AWS reads raise (run_live reports them); the assembly never does.
        # No member has a last good version: a failed one is left out, as the reconcile
        # leaves out a member that never built.
        assembly = assemble.assemble(source=files, config=config, group=group, members=members, last_good={})
        errors.extend({"stack": group, "ingress": k, "reason": v} for k, v in sorted(assembly.errors.items()))
        if assembly.built.stack is not None:
            stacks.append(assembly.built.stack.to_json())
        elif teardowns is not None and members.leaving and not members.live:
            teardowns[group] = [ingresses[m["ingress"]] for m in members.leaving if m["ingress"] in ingresses]
    return {"stacks": stacks, "errors": errors, "invalid": invalid}


class _Files:
    """The assembly's objects, from the manifest files, and its AWS facts."""

    def __init__(
        self,
        *,
        classes: Sequence[Mapping[str, Any]],
        params: Sequence[Mapping[str, Any]],
        stored: Mapping[str, Mapping[str, Mapping[str, Any]]],
        facts: DiscoveryFor,
    ) -> None:
        self._classes, self._params, self._stored, self._facts = classes, params, stored, facts
        self.group = ""

    def ingress_classes(self) -> Sequence[Mapping[str, Any]]:
        return self._classes

    def class_params(self) -> Sequence[Mapping[str, Any]]:
        return self._params

    def objects(self, kind: str, keys: set[str]) -> Mapping[str, Mapping[str, Any]]:
        found = self._stored.get(kind, {})
        return {k: found[k] for k in keys if k in found}

    def discovery(self, ingresses: Sequence[Ingress]) -> Discovery:
        return self._facts(self.group, list(ingresses))


def _key(kind: str, obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (Services, Ingresses) or ``name`` (cluster-scoped kinds)."""
    meta = routing_view(obj)["metadata"]
    if kind in ("Ingress", "Service"):
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    return str(meta.get("name", ""))


def _shaped(obj: Mapping[str, Any]) -> bool:
    """Whether the contract's class helpers can read an object (metadata and spec objects)."""
    return isinstance(obj.get("metadata") or {}, Mapping) and isinstance(obj.get("spec") or {}, Mapping)


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
    for item in result.get("invalid", []):
        lines.append(f"invalid {item['object']}: {item['reason']}")
    return "\n".join(lines) if lines else "no Ingress of this class"


def offline(*, files: Sequence[Path], config_path: Path | None, discovery_path: Path | None) -> Planned:
    """``albatross plan --offline``; CliError when the input cannot be used at all."""
    try:
        config = from_yaml_dict(_read_mapping(config_path, "config", as_json=False))
        discovery = Discovery.from_json(_read_mapping(discovery_path, "discovery", as_json=True))
        manifests = read_manifests(files)
        result = plan_offline(manifests.objects, config, discovery, sources=manifests.sources)
        result["invalid"] = manifests.invalid + result["invalid"]
    except (InputError, ConfigError, DiscoveryError) as e:
        raise CliError(str(e)) from e
    return Planned(document=result, text=table(result), failed=bool(result["errors"] or result["invalid"]))


def run(
    *, files: Sequence[Path], config_path: Path | None, discovery_path: Path | None, output: str
) -> tuple[int, str]:
    """(``albatross plan --offline``'s exit status and the plan; or 1 and why the input
    cannot be used)."""
    try:
        found = offline(files=files, config_path=config_path, discovery_path=discovery_path)
    except CliError as e:
        return 1, str(e)
    return found.exit_status(), found.render(output)


def _refused(stack: str, refusal: protection.Refusal) -> dict[str, str]:
    """A refusal as the plan reports it: the cause in the words of the reconcile's
    Warning (LBC's own for a deleting Ingress that states protection)."""
    lead = "Failed build model" if refusal.reason == protection.BUILD else "Failed deploy model"
    return {
        "stack": stack,
        "loadBalancer": refusal.name,
        "reason": refusal.reason,
        "message": f"{lead} due to {refusal.cause}",
        "release": refusal.release,
    }


def _statements(
    objects: Sequence[Mapping[str, Any]], deleting: Sequence[Mapping[str, Any]]
) -> list[protection.Statement]:
    """What the deleting Ingresses say about deletion protection, each read with its
    class's IngressClassParams from the manifests, as the reconcile reads them."""
    of = {kind: [o for o in objects if o.get("kind") == kind and _shaped(o)] for kind in _READ}
    classes = {c.name: c for c in readable(of["IngressClass"], parse_ingress_class)}
    params = {p.name: p for p in readable(of["IngressClassParams"], parse_params)}
    return protection.statements(deleting, classes=classes, params=params)


def stack_settings(outputs: Mapping[str, str]) -> ControllerConfig:
    """The controller settings the stack's functions run with: the ingest function's
    environment (every function shares it, template.yaml's Globals) and its region."""
    cli_stack.require(outputs, "IngestFunctionName")
    with aws_errors():
        found = clients.client("lambda").get_function_configuration(FunctionName=outputs["IngestFunctionName"])
    env = (found.get("Environment") or {}).get("Variables") or {}
    missing = [k for k in ("CLUSTER_NAME", "VPC_ID") if not env.get(k)]
    if missing:
        raise CliError(
            f"function {outputs['IngestFunctionName']} has no {missing[0]} setting: update the stack with sam deploy"
        )
    return ControllerConfig(
        cluster=env["CLUSTER_NAME"],
        vpc_id=env["VPC_ID"],
        region=str(found["FunctionArn"]).split(":")[3],
        ingress_class=env.get("INGRESS_CLASS") or "alb",
    )


def _service_uids(objects: Sequence[dict[str, Any]], store: Store | None) -> list[str]:
    """Give each Service without ``metadata.uid`` the live one (the state table's
    snapshot), in place; one note per such Service, saying what was done."""
    missing: dict[str, dict[str, Any]] = {}
    for obj in objects:
        meta = obj.get("metadata")
        if obj.get("kind") != "Service" or not isinstance(meta, dict) or meta.get("uid"):
            continue
        if isinstance(meta.get("name"), str) and isinstance(meta.get("namespace"), str):
            missing[f"{meta['namespace']}/{meta['name']}"] = meta
    stored = store.get_objects("Service", missing) if store is not None and missing else {}
    notes: list[str] = []
    for key, meta in sorted(missing.items()):
        uid = (stored.get(key, {}).get("metadata") or {}).get("uid")
        lead = f"Service {key} has no metadata.uid in the file; target group names hash it"
        if isinstance(uid, str) and uid:
            meta["uid"] = uid
            notes.append(f"{lead}, so the plan uses the live Service's, {uid}, from the state table")
        elif store is None:
            notes.append(
                f"{lead}, and no stack is named to read the live one from (--stack-name or --outputs):"
                " its target groups are planned as a new Service's"
            )
        else:
            notes.append(
                f"{lead}, and the state table has no such Service: its target groups are planned as a new one's"
            )
    return notes


def live(
    args: argparse.Namespace, *, files: Sequence[Path], config_path: Path | None, progress: Callable[[str], None]
) -> Planned:
    """``albatross plan`` (live) for the command line's stack: its settings, unless
    ``config_path`` gives others; the state table for the UIDs of Services the files
    give without one."""
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
        clients.reset()
    outputs: Mapping[str, str] | None = None
    try:
        if config_path is None:
            outputs = cli_stack.outputs(args)
            config = stack_settings(outputs)
            progress(
                f"planning with the stack's settings: cluster {config.cluster}, VPC {config.vpc_id},"
                f" class {config.ingress_class}, {config.region}"
            )
        else:
            config = from_yaml_dict(_read_mapping(config_path, "config", as_json=False))
        manifests = read_manifests(files)
    except (InputError, ConfigError) as e:
        raise CliError(str(e)) from e
    lacking = any(o.get("kind") == "Service" and not (o.get("metadata") or {}).get("uid") for o in manifests.objects)
    if lacking and outputs is None and cli_stack.named(args):
        outputs = cli_stack.outputs(args)
    store = Store(outputs["StateTableName"]) if outputs and "StateTableName" in outputs else None
    notes = _service_uids(manifests.objects, store) if lacking else []
    return _live(manifests, config, notes=notes)


def run_live(
    *, files: Sequence[Path], config_path: Path | None, output: str, detailed: bool = False
) -> tuple[int, str]:
    """``albatross plan`` against AWS (or the endpoint in ``AWS_ENDPOINT_URL``) with the
    settings of ``config_path``: (its exit status, ``detailed`` as ``--detailed-exitcode``,
    and the plan; or 1 and why not)."""
    try:
        config = from_yaml_dict(_read_mapping(config_path, "config", as_json=False))
        found = _live(read_manifests(files), config, notes=[])
    except (InputError, ConfigError, CliError) as e:
        return 1, str(e)
    return found.exit_status(detailed=detailed), found.render(output)


def _live(manifests: Manifests, config: ControllerConfig, *, notes: list[str]) -> Planned:
    """The steps that would make AWS match the manifests. Reads only; changes nothing.

    A group whose Ingresses are all being deleted (``metadata.deletionTimestamp``, as
    ``kubectl get -o yaml`` shows a terminating one) is planned as its teardown. A plan
    the reconcile would refuse for deletion protection (:mod:`albatross.plan.protection`)
    is listed with its steps marked ``refused`` and the reconcile's reason: nothing of
    that stack would run, and the Ingresses would keep their finalizers."""
    try:
        actuals: dict[str, Any] = {}

        def facts(group: str, ingresses: list[Any]) -> Discovery:
            actuals[group] = aws.find_stack(cluster=config.cluster, stack_id=group)
            existing = aws.existing_load_balancers(actuals[group], group)
            shared = config.backend_sg_enabled and not config.backend_sg_id  # the cluster's shared backend group, found
            return aws.discover(vpc_id=config.vpc_id, existing=existing, cluster=config.cluster if shared else None)

        def protected(lb: ActualResource) -> bool:
            return applier.deletion_protected(lb.physical_id)

        teardowns: dict[str, list[Mapping[str, Any]]] = {}
        result = plan_offline(
            manifests.objects,
            config,
            Discovery(),
            discovery_for=facts,
            sources=manifests.sources,
            teardowns=teardowns,
        )
        planned: list[tuple[str, Stack | None, Actual, Sequence[protection.Statement]]] = []
        for stack in result["stacks"]:
            built = Stack.from_json(stack)
            planned.append((built.stack_id, built, aws.complete(actuals[built.stack_id], built), ()))
        for group, deleting in sorted(teardowns.items()):
            found = aws.complete(aws.find_stack(cluster=config.cluster, stack_id=group), None)
            planned.append((group, None, found, _statements(manifests.objects, deleting)))
        steps: list[dict[str, Any]] = []
        refusals: list[dict[str, str]] = []
        for group, desired, actual, stated in planned:
            these = plan(desired, actual)
            verdict = protection.decide(steps=these, desired=desired, statements=stated, protected=protected)
            refusals += [_refused(group, r) for r in verdict.refusals]
            steps += [
                {
                    "stack": group,
                    "op": s.op,
                    "type": s.type,
                    "id": s.id,
                    **({"refused": True} if verdict.refused else {}),
                }
                for s in these
            ]
    except AlbatrossError as e:
        raise CliError(f"AWS refused a read: {e}") from e
    invalid = manifests.invalid + result["invalid"]
    document = {"steps": steps, "refused": refusals, "errors": result["errors"], "invalid": invalid}
    if notes:  # only then: the documented shape stays as it was for manifests with UIDs
        document["notes"] = notes
    lines = [f"note {n}" for n in notes]
    lines += [
        f"{s['stack']:<32} {s['op']:<8} {s['type'].rsplit('::', 1)[-1]:<14} {s['id']}"
        + ("  (refused: deletion protection)" if s.get("refused") else "")
        for s in steps
    ]
    lines += [f"refused {r['stack']}: {r['message']}; to let it go, {r['release']}" for r in refusals]
    lines += [f"error {e['ingress']} (stack {e['stack']}): {e['reason']}" for e in result["errors"]]
    lines += [f"invalid {i['object']}: {i['reason']}" for i in invalid]
    return Planned(
        document=document,
        text="\n".join(lines) if len(lines) > len(notes) else "\n".join([*lines, "no changes"]),
        failed=bool(refusals or result["errors"] or invalid),
        changes=bool(steps),
    )
