"""``albatross status`` against the offline system: the table names the group, its
Ingress, the ALB's DNS name, the rule and its target group, the targets' health and the
last reconcile; ``--output json`` matches docs/schema/status.v1.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from albatross.aws import clients
from albatross.cli.main import main
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import NAME, NS, ROOT, ready_2048


def test_status_shows_the_group_its_alb_rules_targets_and_last_reconcile(
    system: LocalSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready_2048(system)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]

    assert main(["status", f"{NS}/{NAME}", "--outputs", str(outputs)]) == 0
    text = capsys.readouterr().out
    assert f"IngressGroup {NS}/{NAME}  ({NS}/{NAME})" in text
    assert lb["DNSName"] in text
    assert "HTTP:80" in text
    assert "path-pattern /*" in text
    assert f"{pod_ip(NS, NAME, 0)}:80" in text
    assert "last reconcile" in text

    assert main(["status", "--all", "--output", "json", "--outputs", str(outputs)]) == 0
    found = json.loads(capsys.readouterr().out)
    jsonschema.validate(found, json.loads((ROOT / "docs/schema/status.v1.json").read_text()))
    [group] = found["groups"]
    assert group["loadBalancer"]["state"] == "active"
    assert [r["priority"] for r in group["listeners"][0]["rules"]] == [1]
    assert len(group["targetGroups"][0]["targets"]) == 3
    assert group["lastReconcile"]["result"] in ("applied by execution", "unchanged", "applied")

    # a group asked for by name that is not there is an error (1), not an empty answer
    assert main(["status", "--group", "nothing/here", "--outputs", str(outputs)]) == 1
    found_err = capsys.readouterr()
    assert found_err.out == ""
    assert found_err.err == "albatross status: no IngressGroup nothing/here: albatross status lists every group\n"
