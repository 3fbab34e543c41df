"""moto models mended in place where they differ from EC2 in ways the backend security
group rules depend on (moto runs in this process, see :mod:`albatross.local.cloud`).

* A network interface's ``addresses.private-ip-address`` filter matches its secondary
  addresses too, as in EC2 (moto matches the primary one only). A pod's address is a
  secondary address of its node's ENI.
* ``ipv6-addresses.ipv6-address`` is served (moto has no such filter).
* A security group rule that names a source group reports its description in
  DescribeSecurityGroupRules (moto reports CIDR rules' descriptions only).
* ELBv2 rule conditions may hold ``RegexValues`` instead of ``Values`` (host-header,
  http-header, path-pattern), as ELBv2's ``RuleCondition`` allows: moto's checks read
  ``Values`` only (a KeyError); they now check the regular expressions in their place.
  moto already stores and returns them.
* DeleteLoadBalancer refuses a load balancer whose ``deletion_protection.enabled`` is
  ``true`` with ``OperationNotPermitted`` (HTTP 400), as the ELBv2 API reference says
  ("You can't delete a load balancer if deletion protection is enabled"); moto deletes it.

Entered by :func:`albatross.local.gaps.fill`; everything is put back on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import ELBv2Backend

# moto's check of a rule condition → the condition's config key (RegexValues allowed)
_REGEX_CHECKS = {
    "_validate_host_header_condition": "HostHeaderConfig",
    "_validate_http_header_condition": "HttpHeaderConfig",
    "_validate_path_pattern_condition": "PathPatternConfig",
}


@contextmanager
def mend_moto() -> Iterator[None]:
    eni_filter = NetworkInterface.get_filter_value

    def filter_value(self: Any, name: str, method_name: str | None = None) -> Any:
        if name == "addresses.private-ip-address":
            return [self.private_ip_address] + [a.get("PrivateIpAddress") for a in self.private_ip_addresses]
        if name == "ipv6-addresses.ipv6-address":
            return list(self.ipv6_addresses)
        return eni_filter(self, name, method_name)

    def description(self: Any) -> Any:
        return self.ip_range.get("Description") or self.source_group.get("Description")

    def regex_check(name: str, config_key: str) -> Any:
        check = ELBv2Backend.__dict__[name]

        def mended(self: Any, condition: dict[str, Any]) -> Any:
            config = condition.get(config_key)
            if isinstance(config, dict) and "RegexValues" in config and "Values" not in config:
                condition = {**condition, config_key: {**config, "Values": config["RegexValues"]}}
            return check(self, condition)

        return mended

    delete_load_balancer = ELBv2Backend.__dict__["delete_load_balancer"]

    def protected_delete(self: Any, arn: str) -> Any:
        found = self.load_balancers.get(arn)
        if found is not None and str(found.attrs.get("deletion_protection.enabled")).lower() == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        return delete_load_balancer(self, arn)

    mends: list[tuple[type, str, Any]] = [
        (ELBv2Backend, "delete_load_balancer", protected_delete),
        (NetworkInterface, "get_filter_value", filter_value),
        (SecurityGroupRule, "description", property(description)),
        *((ELBv2Backend, name, regex_check(name, key)) for name, key in _REGEX_CHECKS.items()),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in mends]
    for owner, name, value in mends:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
