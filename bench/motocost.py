"""moto's own cost with many load balancers: what a scale run's wall time owes to moto.

    python -m bench.motocost --counts 100 300 900

Before a scale scenario can say how long Albatross takes, it must know how long moto
takes to answer the calls Albatross makes when the account holds hundreds of load
balancers (its ``Describe*`` and the tagging API's ``GetResources`` look through every
one). A plain moto server on 127.0.0.1 (no template, no throttling) is filled with
stacks shaped like a one-Ingress group's (a load balancer, a target group, an HTTP:80
listener, one rule, Albatross's tags on each), and at each count the median wall
milliseconds of the reads a reconcile and a sweep make are timed: by ARN, by tag, and
the account-wide pages.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
SAMPLES = 5
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=120)


def _clients(endpoint: str) -> tuple[Any, Any, Any]:
    def make(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]  # service is a runtime name
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  # moto's fake credentials
            config=_CONFIG,
        )

    return make("elbv2"), make("ec2"), make("resourcegroupstaggingapi")


def _median_ms(call: Callable[[], object]) -> float:
    times = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def measure(counts: list[int]) -> list[dict[str, Any]]:
    """Fill one moto with stacks up to each count in turn; time the reads at each."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        elbv2, ec2, tagging = _clients(f"http://{host}:{port}")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for i, zone in enumerate(("us-east-1a", "us-east-1b"))
        ]
        made: list[tuple[str, str, str]] = []  # (load balancer, listener, target group)
        rows = []
        for count in sorted(counts):
            started, before = time.perf_counter(), len(made)
            while len(made) < count:
                i = len(made)
                tags = [{"Key": "ingress.k8s.aws/stack", "Value": f"bench/s-{i:04}"}]
                lb = elbv2.create_load_balancer(Name=f"k8s-bench-s{i:04}", Subnets=subnets, Tags=tags)
                lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
                tg = elbv2.create_target_group(
                    Name=f"k8s-bench-s{i:04}", Protocol="HTTP", Port=80, VpcId=vpc, Tags=tags
                )
                tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
                forward = [{"Type": "forward", "TargetGroupArn": tg_arn}]
                listener = elbv2.create_listener(
                    LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=forward
                )
                listener_arn = listener["Listeners"][0]["ListenerArn"]
                elbv2.create_rule(
                    ListenerArn=listener_arn,
                    Priority=1,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/"]}}],
                    Actions=forward,
                )
                made.append((lb_arn, listener_arn, tg_arn))
            create_ms = (time.perf_counter() - started) * 1000 / max(1, count - before)
            lb_arn, listener_arn, tg_arn = made[count // 2]
            stack = f"bench/s-{count // 2:04}"

            def every_page(method: Callable[..., Any], key: str, **kwargs: Any) -> int:
                found, marker = 0, None
                while True:
                    page = method(**kwargs, **({"Marker": marker} if marker else {}))
                    found += len(page[key])
                    marker = page.get("NextMarker")
                    if not marker:
                        return found

            rows.append(
                {
                    "load_balancers": count,
                    "create_stack_ms": round(create_ms, 1),
                    "DescribeLoadBalancers_by_arn_ms": _median_ms(
                        lambda a=lb_arn: elbv2.describe_load_balancers(LoadBalancerArns=[a])  # type: ignore[misc]  # bound default
                    ),
                    "DescribeLoadBalancers_all_pages_ms": _median_ms(
                        lambda: every_page(elbv2.describe_load_balancers, "LoadBalancers", PageSize=400)
                    ),
                    "DescribeTargetGroups_by_lb_ms": _median_ms(
                        lambda a=lb_arn: elbv2.describe_target_groups(LoadBalancerArn=a)  # type: ignore[misc]  # bound default
                    ),
                    "DescribeRules_by_listener_ms": _median_ms(
                        lambda a=listener_arn: elbv2.describe_rules(ListenerArn=a)  # type: ignore[misc]  # bound default
                    ),
                    "DescribeTags_20_ms": _median_ms(
                        lambda: elbv2.describe_tags(ResourceArns=[m[0] for m in made[:20]])
                    ),
                    "GetResources_one_stack_ms": _median_ms(
                        lambda s=stack: tagging.get_resources(  # type: ignore[misc]  # bound default
                            TagFilters=[{"Key": "ingress.k8s.aws/stack", "Values": [s]}]
                        )
                    ),
                }
            )
            print(rows[-1], flush=True)
        return rows
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.motocost", description=__doc__)
    p.add_argument("--counts", type=int, nargs="+", default=[100, 300, 900])
    args = p.parse_args(argv)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    rows = measure(args.counts)
    header = list(rows[0])
    print("  ".join(header))
    for row in rows:
        print("  ".join(str(row[h]).ljust(len(h)) for h in header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
