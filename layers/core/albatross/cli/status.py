"""``albatross status``: for each IngressGroup, its Ingresses, the load balancer, its
listeners and rules in priority order with their target groups, target health, the last
reconcile and anything pending. Reads the state table and AWS; changes nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from albatross.aws import clients, discovery
from albatross.aws.errors import aws_errors
from albatross.cli.stack import CliError, UsageError
from albatross.model import names
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP
from albatross.plan.compare import condition_key
from albatross.store.table import Store


def _target_health(arn: str) -> list[dict[str, str]]:
    with aws_errors():
        found = clients.elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return [
        {
            "id": str(t["Target"]["Id"]),
            "port": str(t["Target"].get("Port", "")),
            "state": str((t.get("TargetHealth") or {}).get("State", "")),
        }
        for t in found
    ]


def _condition(cond: Mapping[str, Any]) -> str:
    """``path-pattern /*``, ``http-header X-Canary=yes``, ``query-string v=2`` ..."""
    key = condition_key(cond)
    if key[0] == "query-string":
        return "query-string " + ",".join(f"{k}={v}" if k else v for k, v in key[1])
    field, header, values, regex = key
    shown = [*values, *(f"regex:{r}" for r in regex)]
    return f"{field} " + (f"{header}=" if header else "") + ",".join(shown)


def _forwards(actions: list[Mapping[str, Any]], tg_names: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for action in actions:
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or (
            [{"TargetGroupArn": action["TargetGroupArn"]}] if action.get("TargetGroupArn") else []
        )
        out += [tg_names.get(str(g["TargetGroupArn"]), str(g["TargetGroupArn"])) for g in groups]
        if action.get("Type") in ("redirect", "fixed-response"):
            out.append(str(action["Type"]))
    return out


def group_status(*, store: Store, cluster: str, group: str) -> dict[str, Any]:
    state = store.group_state(group)
    actual = discovery.find_stack(cluster=cluster, stack_id=group)
    lbs = [r for r in actual.of_type(LOAD_BALANCER) if r.id == names.LOAD_BALANCER_ID]
    tgs = {r.physical_id: r for r in actual.of_type(TARGET_GROUP)}
    tg_names = {arn: str(r.properties.get("Name")) for arn, r in tgs.items()}
    listeners = []
    for listener in sorted(actual.of_type(LISTENER), key=lambda r: int(r.properties["Port"])):
        rules = sorted(
            (r for r in actual.of_type(LISTENER_RULE) if r.properties.get("ListenerArn") == listener.physical_id),
            key=lambda r: int(r.properties["Priority"]),
        )
        listeners.append(
            {
                "port": int(listener.properties["Port"]),
                "protocol": listener.properties.get("Protocol"),
                "rules": [
                    {
                        "priority": int(r.properties["Priority"]),
                        "conditions": [_condition(c) for c in r.properties.get("Conditions") or []],
                        "forward": _forwards(list(r.properties.get("Actions") or []), tg_names),
                    }
                    for r in rules
                ],
            }
        )
    return {
        "group": group,
        "ingresses": sorted(store.members(group)),
        "loadBalancer": (
            {
                "name": lbs[0].properties.get("Name"),
                "dns": lbs[0].properties.get("DNSName"),
                "state": lbs[0].properties.get("State"),
                "scheme": lbs[0].properties.get("Scheme"),
            }
            if lbs
            else None
        ),
        "listeners": listeners,
        "targetGroups": [
            {"name": tg_names[arn], "targets": _target_health(arn)} for arn in sorted(tgs, key=lambda a: tg_names[a])
        ],
        "lastReconcile": dict(state.last) if state.last else None,
        "pending": {
            "requested": state.requested,
            "dirty": state.dirty,
            "execution": state.execution,
        },
    }


def status(*, outputs: Mapping[str, str], group: str | None = None, ingress: str | None = None) -> list[dict[str, Any]]:
    """One entry per group: ``group``, the group of ``ingress``, or every group (none
    when the one asked for is not there: :func:`require_found` makes that an error)."""
    store = Store(outputs["StateTableName"])
    cluster = outputs["ClusterName"]
    groups = sorted(store.all_groups())
    if ingress is not None:
        groups = [g for g in groups if ingress in store.members(g)]
    elif group is not None:
        groups = [g for g in groups if g == group]
    return [group_status(store=store, cluster=cluster, group=g) for g in groups]


def check_ingress(ingress: str | None) -> None:
    """An Ingress on the command line is NAMESPACE/NAME (a UsageError otherwise)."""
    if ingress is not None and (ingress.count("/") != 1 or not all(ingress.split("/"))):
        raise UsageError(f"name an Ingress as NAMESPACE/NAME, not {ingress!r}; or a group with --group")


def require_found(groups: list[dict[str, Any]], *, group: str | None, ingress: str | None) -> None:
    """A group or Ingress asked for by name that Albatross does not know is a CliError
    (exit 1): a script must not read "nothing found" as "nothing wrong". With neither,
    no group at all is an answer."""
    if groups:
        return
    if ingress is not None:
        raise CliError(
            f"no IngressGroup has Ingress {ingress}: not of this stack's class, not yet sent by the forwarder,"
            " or deleted (kubectl describe ingress shows its Events)"
        )
    if group is not None:
        raise CliError(f"no IngressGroup {group}: albatross status lists every group")


def table(groups: list[dict[str, Any]]) -> str:
    if not groups:
        return "no IngressGroup found"
    lines: list[str] = []
    for g in groups:
        lb = g["loadBalancer"]
        lines.append(f"IngressGroup {g['group']}  ({', '.join(g['ingresses']) or 'no Ingress'})")
        lines.append(f"  load balancer  {lb['name']}  {lb['state']}  {lb['dns']}" if lb else "  load balancer  none")
        for listener in g["listeners"]:
            lines.append(f"  {listener['protocol']}:{listener['port']}")
            for rule in listener["rules"]:
                when = "; ".join(rule["conditions"]) or "(any)"
                lines.append(f"    {rule['priority']:>5}  {when}  →  {', '.join(rule['forward'])}")
        for tg in g["targetGroups"]:
            health = ", ".join(f"{t['id']}:{t['port']} {t['state']}" for t in tg["targets"]) or "no targets"
            lines.append(f"  {tg['name']}  {health}")
        last = g["lastReconcile"]
        if last:
            errors = f"  errors: {'; '.join(last.get('errors') or [])}" if last.get("errors") else ""
            took = f" in {last['duration_ms']} ms" if "duration_ms" in last else ""
            lines.append(f"  last reconcile  {last['at']}  {last['result']}{took}{errors}")
        pending = [k for k, v in g["pending"].items() if v]
        if pending:
            lines.append(f"  pending  {', '.join(pending)}")
    return "\n".join(lines)


def as_json(groups: list[dict[str, Any]]) -> str:
    return json.dumps({"groups": groups}, indent=2, sort_keys=True)
