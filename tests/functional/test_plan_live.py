"""``albatross plan`` (live): the steps that would make AWS (moto here) match the
manifests, read-only."""

from __future__ import annotations

import json
from pathlib import Path

from albatross.aws import applier, discovery
from albatross.aws.calls import CallCounter
from albatross.cli.plan import run_live
from albatross.local.system import make_vpc
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan

ROOT = Path(__file__).resolve().parents[2]


def test_live_plan_lists_the_steps_and_changes_nothing(moto_endpoint: str, tmp_path: Path) -> None:
    vpc = make_vpc("prod")
    config = tmp_path / "config.yaml"
    config.write_text(f"clusterName: prod\nvpcId: {vpc}\n")
    status, text = run_live(files=[ROOT / "examples/2048/2048.yaml"], config_path=config, output="json")
    assert status == 0
    steps = json.loads(text)["steps"]
    assert [(s["op"], s["id"]) for s in steps][:2] == [
        ("create", "ManagedLBSecurityGroup"),
        ("create", "game-2048/game-2048-game-2048:80"),
    ]
    assert len(steps) == 5

    # build what the plan said, then ask again about a manifest with one more path
    from albatross.cli.plan import load_objects, plan_offline
    from albatross.model.config import ControllerConfig

    settings = ControllerConfig(cluster="prod", vpc_id=vpc)
    stack = Stack.from_json(
        plan_offline(load_objects([ROOT / "examples/2048/2048.yaml"]), settings, discovery.discover(vpc_id=vpc))[
            "stacks"
        ][0]
    )
    physical: dict[str, str] = {}
    for step in plan(stack, Actual()):
        applier.apply(step, physical)
    changed = tmp_path / "2048.yaml"
    api_path = (
        "          - path: /api\n            pathType: Prefix\n            backend:\n"
        "              service:\n                name: game-2048\n                port:\n"
        "                  number: 80\n"
    )
    original = (ROOT / "examples/2048/2048.yaml").read_text()
    changed.write_text(original.replace("          - path: /\n", api_path + "          - path: /\n"))
    counter = CallCounter()
    try:
        status, text = run_live(files=[changed], config_path=config, output="table")
    finally:
        counter.close()
    assert status == 0
    assert text.splitlines() == [
        "game-2048/game-2048              reorder  ListenerRule   80",
        "game-2048/game-2048              create   ListenerRule   80:1",
    ]
    assert CallCounter.mutating(counter.snapshot()) == 0
    status, text = run_live(files=[ROOT / "examples/2048/2048.yaml"], config_path=config, output="table")
    assert (status, text) == (0, "no changes")


def test_web_acls_are_listed_for_wafv2_acl_name(moto_endpoint: str) -> None:
    from albatross.aws import clients

    arn = clients.wafv2().create_web_acl(
        Name="edge",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "edge"},
    )["Summary"]["ARN"]
    assert discovery.web_acls() == [{"Name": "edge", "ARN": arn}]
