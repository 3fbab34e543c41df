"""An ``actions.<name>`` forward to a Service by name, through the whole system: the
reconcile loads that Service (it is named only inside the annotation) and forwards to its
target group instead of answering 503."""

from __future__ import annotations

import json

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import ROOT, apply

ACTION = {"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "game-2048", "servicePort": "80"}]}}


def test_a_service_named_only_in_an_action_is_forwarded_to(system: LocalSystem) -> None:
    manifest = (ROOT / "examples/2048/2048.yaml").read_text()
    manifest = manifest.replace(
        "    alb.ingress.kubernetes.io/target-type: ip\n",
        "    alb.ingress.kubernetes.io/target-type: ip\n"
        f"    alb.ingress.kubernetes.io/actions.play: '{json.dumps(ACTION)}'\n",
    ).replace(
        "                name: game-2048\n                port:\n                  number: 80\n",
        "                name: play\n                port:\n                  name: use-annotation\n",
    )
    path = system.log_path.parent / "2048-action.yaml"
    path.write_text(manifest)
    apply(system, path)
    system.wait_for("the address", lambda: ingress_hostname(system, "game-2048", "game-2048"))
    elbv2 = clients.elbv2()
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    [rule] = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert rule["Actions"][0]["Type"] == "forward"
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
