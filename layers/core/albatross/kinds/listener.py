"""The listener kind: hangs under a load balancer, known by its port there.

The ALB's listener ``80`` and a frontend NLB's TCP listener on port 80 are two resources:
a listener's resource id says which load balancer it hangs under
(:func:`albatross.model.names.listener_id_under`, LBC's ids).

Listed under its load balancer (DescribeListeners), or read by ARN when recorded and not
listed yet; pairs only under the paired load balancer (a replaced load balancer gets new
listeners). Protocol, default actions, TLS settings, the attributes the model sets and
the SNI certificates are what an update changes: the default certificate goes with
Create/ModifyListener, the others with Add/RemoveListenerCertificates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from albatross.kinds.actions import action_key
from albatross.kinds.base import ActualResource, Aws, Kind, Props, Step, attributes_differ
from albatross.model.names import listener_id_under, load_balancer_of_listener
from albatross.model.stack import LISTENER, LOAD_BALANCER, Resource


def certificate_sets(props: Props) -> tuple[str | None, frozenset[str]]:
    """A listener's default certificate and the set of its other (SNI) certificates."""
    arns = [str(c.get("CertificateArn")) for c in props.get("Certificates") or ()]
    return (arns[0] if arns else None), frozenset(arns[1:]) - set(arns[:1])


def _mtls(config: Any) -> tuple[Any, ...] | None:
    """Mutual TLS in comparable form; absent and ``off`` are the same."""
    if not isinstance(config, Mapping) or config.get("Mode") in (None, "off"):
        return None
    return tuple(sorted((str(k), str(v)) for k, v in config.items() if k != "TrustStoreAssociationStatus"))


def _call(props: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A listener's create/modify arguments (only the default certificate goes there) and
    the SNI certificates that follow with AddListenerCertificates."""
    certificates = props.pop("Certificates", None) or []
    if certificates:
        props["Certificates"] = certificates[:1]
    return props, certificates[1:]


def _resource(listener: Mapping[str, Any], parent: ActualResource) -> ActualResource:
    port = int(listener["Port"])
    return ActualResource(
        id=listener_id_under(parent.id, port=port, protocol=str(listener.get("Protocol"))),
        type=LISTENER,
        physical_id=listener["ListenerArn"],
        properties={
            "Port": port,
            "LoadBalancerArn": listener.get("LoadBalancerArn"),
            "Protocol": listener.get("Protocol"),
            "DefaultActions": listener.get("DefaultActions", []),
            "Certificates": listener.get("Certificates", []),
            "SslPolicy": listener.get("SslPolicy"),
        },
    )


class Listener(Kind):
    type = LISTENER
    marker = ":listener/"
    parent_type = LOAD_BALANCER
    parent_property = "LoadBalancerArn"

    def identity(self, props: Props) -> Any:
        return props.get("Port")

    def parent_id(self, rid: str) -> str | None:
        return load_balancer_of_listener(rid)

    def mutable_view(self, props: Props) -> dict[str, Any]:
        # TLS settings mean something on HTTPS listeners only (some endpoints report a
        # policy on HTTP listeners too).
        tls = props.get("Protocol") == "HTTPS"
        default, sni = certificate_sets(props) if tls else (None, frozenset())
        return {
            "Protocol": props.get("Protocol"),
            "DefaultActions": tuple(action_key(a) for a in props.get("DefaultActions") or ()),
            "SslPolicy": props.get("SslPolicy") if tls else None,
            "Certificate": default,
            "SNI": sni,
            "MutualAuthentication": _mtls(props.get("MutualAuthentication")),
        }

    def list_under(self, aws: Aws, parent: ActualResource) -> list[ActualResource]:
        pages = aws.elbv2().get_paginator("describe_listeners").paginate(LoadBalancerArn=parent.physical_id)
        return [_resource(listener, parent) for page in pages for listener in page["Listeners"]]

    def read_under(self, aws: Aws, physical_id: str, parent: ActualResource) -> list[ActualResource]:
        return [_resource(lr, parent) for lr in aws.elbv2().describe_listeners(ListenerArns=[physical_id])["Listeners"]]

    def read_attributes(self, aws: Aws, physical_id: str) -> list[Any]:
        with aws.classified():
            return list(aws.elbv2().describe_listener_attributes(ListenerArn=physical_id)["Attributes"])

    def _certificates(self, aws: Aws, listener_arn: str) -> list[dict[str, Any]]:
        """A listener's certificates, the default first, then the SNI ones."""
        found: list[Mapping[str, Any]] = []
        marker: str | None = None
        with aws.classified():
            while True:
                kwargs: dict[str, Any] = {"ListenerArn": listener_arn, **({"Marker": marker} if marker else {})}
                page = aws.elbv2().describe_listener_certificates(**kwargs)
                found += page.get("Certificates", [])
                marker = page.get("NextMarker")
                if not marker:
                    break
        default = [{"CertificateArn": c["CertificateArn"]} for c in found if c.get("IsDefault")]
        others = sorted(({"CertificateArn": c["CertificateArn"]} for c in found if not c.get("IsDefault")), key=str)
        return default + others

    def complete(
        self, aws: Aws, res: ActualResource, props: dict[str, Any], mine: Resource | None, trusted: bool
    ) -> dict[str, Any] | None:
        """The attributes, then an HTTPS listener's SNI certificates (DescribeListeners
        shows the default one only)."""
        out = super().complete(aws, res, props, mine, trusted)
        if out is not None and out.get("Protocol") == "HTTPS":
            if trusted and mine is not None:
                out["Certificates"] = list(out.get("Certificates") or [])[:1] + [
                    {"CertificateArn": c["CertificateArn"]} for c in (mine.properties.get("Certificates") or [])[1:]
                ]
            else:
                out["Certificates"] = self._certificates(aws, res.physical_id)
        return out

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        elbv2 = aws.elbv2()
        attributes = props.pop("Attributes", [])
        call, sni = _call(props)
        arn = elbv2.create_listener(**call)["Listeners"][0]["ListenerArn"]
        if attributes:
            elbv2.modify_listener_attributes(ListenerArn=arn, Attributes=attributes)
        if sni:
            elbv2.add_listener_certificates(ListenerArn=arn, Certificates=sni)  # type: ignore[arg-type]  # CertificateArn dicts
        return arn

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        elbv2 = aws.elbv2()
        if self.mutable_view({**props, "Certificates": props.get("Certificates", [])[:1]}) != self.mutable_view(
            {**current, "Certificates": list(current.get("Certificates") or [])[:1]}
        ):
            call, _ = _call(dict(props))
            keep = ("Protocol", "DefaultActions", "Certificates", "SslPolicy", "MutualAuthentication")
            elbv2.modify_listener(ListenerArn=physical_id, **{k: v for k, v in call.items() if k in keep})
        if attributes_differ(props, current):
            elbv2.modify_listener_attributes(ListenerArn=physical_id, Attributes=props["Attributes"])
        self._sync_sni(aws, physical_id, props, current)

    def _sync_sni(self, aws: Aws, arn: str, props: Props, current: Props) -> None:
        """Add and remove SNI certificates so the listener holds exactly the model's."""
        if props.get("Protocol") != "HTTPS":
            return
        _, want = certificate_sets(props)
        _, have = certificate_sets(current)
        elbv2 = aws.elbv2()
        if want - have:
            elbv2.add_listener_certificates(
                ListenerArn=arn, Certificates=[{"CertificateArn": c} for c in sorted(want - have)]
            )
        if have - want:
            elbv2.remove_listener_certificates(
                ListenerArn=arn, Certificates=[{"CertificateArn": c} for c in sorted(have - want)]
            )

    def delete(self, aws: Aws, step: Step) -> None:
        assert step.actual is not None
        aws.elbv2().delete_listener(ListenerArn=step.actual.physical_id)


KIND = Listener()
