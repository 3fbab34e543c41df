"""``albatross plan --offline``: the documented interface, its output shape and its exit
statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from albatross.cli.main import main
from albatross.cli.plan import run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/2048/2048.yaml"
SUBNETS = {
    "subnets": [
        {
            "SubnetId": f"subnet-{z}",
            "AvailabilityZone": f"us-east-1{z}",
            "Tags": [{"Key": "kubernetes.io/role/elb", "Value": "1"}],
        }
        for z in "ab"
    ]
}


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config.yaml"
    config.write_text("clusterName: prod\nvpcId: vpc-0abc\ndefaultTags: {team: web}\n")
    discovery = tmp_path / "discovery.json"
    discovery.write_text(json.dumps(SUBNETS))
    return config, discovery


def test_json_output_names_resources_by_resource_id(inputs: tuple[Path, Path]) -> None:
    config, discovery = inputs
    status, text = run(files=[EXAMPLE], config_path=config, discovery_path=discovery, output="json")
    assert status == 0
    result = json.loads(text)
    assert result["errors"] == []
    [stack] = result["stacks"]
    assert stack["stack"] == "game-2048/game-2048"
    resources = stack["resources"]
    assert set(resources) == {
        "LoadBalancer",
        "ManagedLBSecurityGroup",
        "80",
        "80:1",
        "game-2048/game-2048-game-2048:80",
    }
    lb = resources["LoadBalancer"]
    assert lb["type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    assert lb["properties"]["Scheme"] == "internet-facing"
    assert lb["properties"]["Subnets"] == ["subnet-a", "subnet-b"]
    assert lb["properties"]["SecurityGroups"] == [{"$ref": "ManagedLBSecurityGroup"}]
    tg = resources["game-2048/game-2048-game-2048:80"]
    assert tg["binding"]["service"] == "game-2048/game-2048"
    assert tg["properties"]["VpcId"] == "vpc-0abc"


def test_member_errors_are_results_not_failures(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    config, discovery = inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("scheme: internet-facing", "scheme: sideways"))
    status, text = run(files=[bad], config_path=config, discovery_path=discovery, output="json")
    assert status == 0
    result = json.loads(text)
    assert result["stacks"] == []
    assert result["errors"] == [
        {
            "stack": "game-2048/game-2048",
            "ingress": "game-2048/game-2048",
            "reason": "unknown scheme: sideways (annotation alb.ingress.kubernetes.io/scheme)",
        }
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("clusterName: 3\n", "clusterName must be a str, got 3"),
        ("colour: blue\n", "unknown configuration key 'colour'"),
        ("defaultScheme: sideways\n", "defaultScheme must be internal or internet-facing"),
    ],
)
def test_unusable_config_exits_2_with_one_line(tmp_path: Path, content: str, reason: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(content)
    status, text = run(files=[EXAMPLE], config_path=config, discovery_path=None, output="json")
    assert (status, text) == (2, reason)


def test_unreadable_manifests_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    assert main(["plan", "--offline", "-f", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(str(broken))
    assert "\n" not in err
    assert main(["plan", "--offline", "-f", str(tmp_path / "missing.yaml")]) == 2


def test_table_output(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, discovery = inputs
    assert main(["plan", "--offline", "-f", str(EXAMPLE), "--config", str(config), "--discovery", str(discovery)]) == 0
    out = capsys.readouterr().out
    assert "stack game-2048/game-2048" in out
    assert "LoadBalancer" in out
