"""``albatross plan --offline``: the documented interface, its output shape and its exit
statuses."""

from __future__ import annotations

import contextlib
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from albatross.cli.main import main
from albatross.cli.plan import run
from tests.doc_blocks import section_blocks

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


def test_member_errors_are_results_and_fail_the_plan(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    """README.md, "Exit status": a plan with an Ingress that cannot be built exits 1,
    the plan still printed."""
    config, discovery = inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("scheme: internet-facing", "scheme: sideways"))
    status, text = run(files=[bad], config_path=config, discovery_path=discovery, output="json")
    assert status == 1
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
def test_unusable_config_exits_1_with_one_line(tmp_path: Path, content: str, reason: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(content)
    status, text = run(files=[EXAMPLE], config_path=config, discovery_path=None, output="json")
    assert (status, text) == (1, reason)


def test_unreadable_manifests_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    assert main(["plan", "--offline", "-f", str(broken)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"albatross plan: {broken}")
    assert "\n" not in err
    assert main(["plan", "--offline", "-f", str(tmp_path / "missing.yaml")]) == 1


def test_table_output(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, discovery = inputs
    assert main(["plan", "--offline", "-f", str(EXAMPLE), "--config", str(config), "--discovery", str(discovery)]) == 0
    out = capsys.readouterr().out
    assert "stack game-2048/game-2048" in out
    assert "LoadBalancer" in out


# Issue 14 item 11: one bad object is one line naming it; the others are planned. Before
# the fix, the Ingress without a name stopped the whole batch with a ContractError
# traceback, and the weight "x" one with "invalid literal for int()" naming nothing.
BAD_OBJECTS = """\
---
just a string
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  namespace: game-2048
spec: {ingressClassName: alb}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: no-namespace}
spec: {ingressClassName: alb}
---
apiVersion: v1
kind: List
items: [7]
---
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: game-2048}
spec: {ports: [{name: http}]}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weird}
spec: [controller]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: weighted
  namespace: game-2048
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/actions.split: >-
      {"type": "forward", "forwardConfig": {"targetGroups":
      [{"serviceName": "game-2048", "servicePort": 80, "weight": "x"}]}}
spec:
  ingressClassName: alb
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: split, port: {name: use-annotation}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: to-broken, namespace: game-2048}
spec:
  ingressClassName: alb
  defaultBackend: {service: {name: broken, port: {number: 80}}}
"""


def test_each_bad_object_is_one_entry_and_the_rest_are_planned(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    config, discovery = inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_OBJECTS)
    status, text = run(files=[EXAMPLE, bad], config_path=config, discovery_path=discovery, output="json")
    assert status == 1, text  # README.md, "Exit status": an object that cannot be read fails the plan
    result = json.loads(text)
    assert [s["stack"] for s in result["stacks"]] == ["game-2048/game-2048"]
    assert result["invalid"] == [
        {"object": "bad.yaml, document 1", "reason": "not a Kubernetes object (no kind)"},
        {"object": "bad.yaml, document 4, item 0", "reason": "not a Kubernetes object (no kind)"},
        {"object": "Ingress (bad.yaml, document 2)", "reason": "has no metadata.name"},
        {
            "object": "Ingress no-namespace",
            "reason": "has no metadata.namespace (plan needs it: Albatross names resources after it)",
        },
        {"object": "IngressClass weird", "reason": "IngressClass weird: spec must be an object"},
        {"object": "Service game-2048/broken", "reason": "Service game-2048/broken: spec.ports[0].port missing"},
    ]
    errors = {e["ingress"]: e["reason"] for e in result["errors"]}
    assert set(errors) == {"game-2048/weighted", "game-2048/to-broken"}
    assert "weight must be an integer" in errors["game-2048/weighted"]
    assert "(annotation alb.ingress.kubernetes.io/actions.split" in errors["game-2048/weighted"]
    assert errors["game-2048/to-broken"] == (
        "service game-2048/broken cannot be read: Service game-2048/broken: spec.ports[0].port missing"
    )


def test_table_output_names_every_bad_object_on_one_line(
    tmp_path: Path, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, discovery = inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_OBJECTS)
    files = ["-f", str(EXAMPLE), "-f", str(bad)]
    # printed in full, and exit 1: a CI job must not pass a plan with Ingresses it cannot build
    assert main(["plan", "--offline", *files, "--config", str(config), "--discovery", str(discovery)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "stack game-2048/game-2048" in out
    assert sum(line.startswith("invalid ") for line in out) == 6
    assert sum(line.startswith("error ") for line in out) == 2
    assert not any("Traceback" in line for line in out)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("deep.yaml", "[" * 20000 + "]" * 20000, "nested too deeply to read"),
        ("binary.yaml", b"\xff\xfe\x00", ""),
    ],
)
def test_unreadable_files_exit_1_with_one_line(
    tmp_path: Path, name: str, content: str | bytes, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert main(["plan", "--offline", "-f", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"albatross plan: {path}")
    assert reason in err
    assert "\n" not in err


@pytest.mark.parametrize(
    ("discovery", "reason"),
    [
        ({"subnets": [{"AvailabilityZone": "us-east-1a"}]}, "subnets[0]: needs SubnetId (a string)"),
        ({"subnets": [{"SubnetId": "subnet-a", "Tags": [{"Value": "x"}]}]}, "subnets[0]: Tags must be a list"),
        ({"certificates": [{"CertificateArn": "arn:x", "SubjectAlternativeNames": [1]}]}, "certificates[0]"),
        ({"backendSecurityGroupId": ["sg-1"]}, "backendSecurityGroupId must be a string"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_a_malformed_discovery_file_exits_1_with_one_line(tmp_path: Path, discovery: Any, reason: str) -> None:
    path = tmp_path / "discovery.json"
    path.write_text(json.dumps(discovery))
    status, text = run(files=[EXAMPLE], config_path=None, discovery_path=path, output="json")
    assert status == 1
    assert reason in text
    assert "\n" not in text


def test_the_readme_plan_runs_as_written_with_the_sample_files(capsys: pytest.CaptureFixture[str]) -> None:
    """README.md's ``plan --offline`` block, verbatim, from the repository root (where a
    reader runs it), prints the output block that follows it, and exits 0."""
    [block] = section_blocks(ROOT / "README.md", "## Configuration")
    [line] = block.commands.splitlines()
    shown = block.shown
    argv = shlex.split(line)
    assert argv[0] == "albatross"
    with contextlib.chdir(ROOT):
        assert main(argv[1:]) == 0
    assert capsys.readouterr().out == shown
