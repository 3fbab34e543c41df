"""What an Ingress needs, read by the forwarder as the model (and LBC) reads it, through
the whole system (issue 15).

LBC decodes annotation JSON with Go's ``encoding/json``, which matches object keys to its
fields without regard to case: ``"forwardconfig"`` is ``forwardConfig``. The model always
read them so; the forwarder read only two spellings, so an ``actions.*`` forward written
in lowercase named a Service the forwarder never sent, and the rule answered 503. The same
for ``auth-idp-oidc``'s ``secretName``: the Secret was never copied. And a Secret is read
as LBC reads it: the legacy ``clientId`` key, a trailing newline trimmed."""

from __future__ import annotations

import base64
import json

import yaml
from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_oidc import IDP, oidc_rule
from tests.e2e.test_slice import NAME, NS, ROOT, apply
from tests.k8s_typing import body

A = "alb.ingress.kubernetes.io/"
# Every key in lowercase: LBC's decoder takes these as forwardConfig, targetGroups, ...
LOWERCASE_ACTION = {
    "type": "forward",
    "forwardconfig": {"targetgroups": [{"servicename": "game-2048", "serviceport": "80"}]},
}


def test_a_forward_written_in_lowercase_reaches_its_service(system: LocalSystem) -> None:
    manifest = (ROOT / "examples/2048/2048.yaml").read_text()
    manifest = manifest.replace(
        "    alb.ingress.kubernetes.io/target-type: ip\n",
        "    alb.ingress.kubernetes.io/target-type: ip\n"
        f"    alb.ingress.kubernetes.io/actions.play: '{json.dumps(LOWERCASE_ACTION)}'\n",
    ).replace(
        "                name: game-2048\n                port:\n                  number: 80\n",
        "                name: play\n                port:\n                  name: use-annotation\n",
    )
    assert "actions.play" in manifest  # the example still has the lines replaced
    assert "use-annotation" in manifest
    path = system.log_path.parent / "2048-lowercase-action.yaml"
    path.write_text(manifest)
    apply(system, path)
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    elbv2 = clients.elbv2()
    # the Service, named only inside the annotation, was sent: its target group exists...
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    [rule] = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    # ...the rule forwards to it rather than answering 503...
    assert [a["Type"] for a in rule["Actions"]] == ["forward"]
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == tg["TargetGroupArn"]

    # ...and its EndpointSlices too: the pods are registered
    def targets() -> list[str]:
        found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        return [str(t["Target"]["Id"]) for t in found]

    assert system.wait_for("the pods registered", targets)


def test_an_oidc_secret_is_found_and_read_as_lbc_reads_it(system: LocalSystem) -> None:
    """``secretname`` (any case) names the Secret; the Secret holds the legacy ``clientId``
    key and values ending in a newline (``echo value | base64``): LBC trims the id's
    trailing whitespace and the secret's trailing control characters."""
    core = k8s.CoreV1Api(system.api())
    core.create_namespace(body({"metadata": {"name": NS}}))
    data = {
        "clientId": base64.b64encode(b"legacy-client-5e1b\n").decode(),
        "clientSecret": base64.b64encode(b"s3cr3t-legacy-77a0\r\n").decode(),
    }
    core.create_namespaced_secret(NS, body({"metadata": {"name": "oidc-client"}, "data": data}))
    certificate = clients.acm().request_certificate(DomainName="game.example.com")["CertificateArn"]
    idp = {k.lower(): v for k, v in IDP.items()}  # "secretname", "issuer", ...
    for doc in yaml.safe_load_all((ROOT / "examples/2048/2048.yaml").read_text()):
        if doc["kind"] == "Namespace":
            continue
        if doc["kind"] == "Ingress":
            doc["metadata"]["annotations"].update(
                {
                    A + "certificate-arn": certificate,
                    A + "listen-ports": '[{"HTTPS": 443}]',
                    A + "auth-type": "oidc",
                    A + "auth-idp-oidc": json.dumps(idp),
                }
            )
        utils.create_from_dict(system.api(), doc)  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    rule = oidc_rule(system)
    assert rule is not None
    config = rule["Actions"][0]["AuthenticateOidcConfig"]
    # moto keeps what it was given (AWS never shows a client secret)
    assert (config["ClientId"], config["ClientSecret"]) == ("legacy-client-5e1b", "s3cr3t-legacy-77a0")
    assert config["Issuer"] == IDP["issuer"]
