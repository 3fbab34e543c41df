"""Controller-wide settings the model needs: LBC's controller flags, with its defaults.
``albatross plan --offline --config`` reads them from YAML (:func:`from_yaml_dict`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Used when a configuration leaves them out; names hash the cluster name, so a plan meant
# to match real resources must set clusterName.
OFFLINE_CLUSTER = "my-cluster"
OFFLINE_VPC = "vpc-00000000"


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the key."""


@dataclass(frozen=True)
class ControllerConfig:
    cluster: str
    vpc_id: str
    region: str = "us-east-1"
    ingress_class: str = "alb"
    default_scheme: str = "internal"
    default_target_type: str = "instance"
    default_ssl_policy: str = "ELBSecurityPolicy-2016-08"
    default_tags: Mapping[str, str] = field(default_factory=dict)
    external_managed_tags: tuple[str, ...] = ()
    backend_sg_enabled: bool = True
    backend_sg_id: str | None = None
    tolerate_missing_service: bool = True
    tolerate_missing_action: bool = True
    enable_ip_target_type: bool = True


_KEYS: dict[str, tuple[str, type]] = {
    "clusterName": ("cluster", str),
    "vpcId": ("vpc_id", str),
    "region": ("region", str),
    "ingressClass": ("ingress_class", str),
    "defaultScheme": ("default_scheme", str),
    "defaultTargetType": ("default_target_type", str),
    "defaultSSLPolicy": ("default_ssl_policy", str),
    "tolerateNonExistentBackendService": ("tolerate_missing_service", bool),
    "tolerateNonExistentBackendAction": ("tolerate_missing_action", bool),
    "enableIPTargetType": ("enable_ip_target_type", bool),
}


def from_yaml_dict(data: Mapping[str, Any]) -> ControllerConfig:
    """Build the configuration from the keys ``albatross plan --config`` documents."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"unknown configuration key {key!r}")
        if key in _KEYS:
            attr, kind = _KEYS[key]
            if not isinstance(value, kind):
                raise ConfigError(f"{key} must be a {kind.__name__}, got {value!r}")
            values[attr] = value
        elif key == "defaultTags":
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError("defaultTags must map tag keys to string values")
            values["default_tags"] = {str(k): v for k, v in value.items()}
        elif key == "externalManagedTags":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError("externalManagedTags must be a list of tag keys")
            values["external_managed_tags"] = tuple(value)
        elif key == "backendSecurityGroup":
            if (
                not isinstance(value, Mapping)
                or not isinstance(value.get("enabled", True), bool)
                or not isinstance(value.get("id"), (str, type(None)))
            ):
                raise ConfigError("backendSecurityGroup must be {enabled: bool, id: string or null}")
            values["backend_sg_enabled"] = value.get("enabled", True)
            values["backend_sg_id"] = value.get("id") or None
        else:
            raise ConfigError(f"unknown configuration key {key!r}")
    values.setdefault("cluster", OFFLINE_CLUSTER)
    values.setdefault("vpc_id", OFFLINE_VPC)
    if values.get("default_scheme", "internal") not in ("internal", "internet-facing"):
        raise ConfigError("defaultScheme must be internal or internet-facing")
    if values.get("default_target_type", "instance") not in ("instance", "ip"):
        raise ConfigError("defaultTargetType must be instance or ip")
    return ControllerConfig(**values)
