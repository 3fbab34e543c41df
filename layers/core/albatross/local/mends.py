"""moto models mended in place where they differ from EC2 in ways the backend security
group rules depend on (moto runs in this process, see :mod:`albatross.local.cloud`).

* A network interface's ``addresses.private-ip-address`` filter matches its secondary
  addresses too, as in EC2 (moto matches the primary one only). A pod's address is a
  secondary address of its node's ENI.
* ``ipv6-addresses.ipv6-address`` is served (moto has no such filter).
* A security group rule that names a source group reports its description in
  DescribeSecurityGroupRules (moto reports CIDR rules' descriptions only).

Entered by :func:`albatross.local.gaps.fill`; everything is put back on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.security_groups import SecurityGroupRule


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

    mends: list[tuple[type, str, Any]] = [
        (NetworkInterface, "get_filter_value", filter_value),
        (SecurityGroupRule, "description", property(description)),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in mends]
    for owner, name, value in mends:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
