"""Runtime settings, read from the function environment set in ``template.yaml``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from albatross.model.config import ControllerConfig


@dataclass(frozen=True)
class Settings:
    cluster: str
    vpc_id: str
    region: str
    table: str
    work_queue_url: str
    writeback_queue_url: str
    provision_state_machine: str
    teardown_state_machine: str
    ingress_class: str = "alb"
    targets_queue_url: str = ""  # the targets fast path (empty: EndpointSlice changes reconcile in full)
    # a user's change (ADR 0017; empty: it goes on the work queue with the bulk work)
    urgent_work_queue_url: str = ""
    readiness_queue_url: str = ""  # pod readiness gates' timed polls (ADR 0014; empty: no poll)
    # one second of AWS's health checks, in seconds: a poll's delay is counted in these
    # (1 on AWS; `albatross local` scales it, as it scales the health checks)
    readiness_clock_seconds: float = 1.0
    payload_bucket: str = ""  # where claim-checked changes are (empty: any bucket the role may read)
    # The work, urgent and targets queues' maxReceiveCount (0: unknown, no receive is taken for the
    # last) and the backoff of a record left on them (ADR 0009)
    max_receive_count: int = 0
    retry_backoff_seconds: float = 5.0
    retry_backoff_max_seconds: float = 300.0
    # How long a reconcile's lease on its group lasts (ADR 0017): the function's timeout, so
    # one left by a crashed invocation ends when that invocation would have
    lease_seconds: float = 300.0

    def work_queue(self, *, urgent: bool) -> str:
        """The queue a reconcile request goes to: the urgent lane's, when there is one."""
        return self.urgent_work_queue_url if urgent and self.urgent_work_queue_url else self.work_queue_url

    @property
    def controller(self) -> ControllerConfig:
        return ControllerConfig(
            cluster=self.cluster, vpc_id=self.vpc_id, region=self.region, ingress_class=self.ingress_class
        )

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            cluster=env["CLUSTER_NAME"],
            vpc_id=env["VPC_ID"],
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "us-east-1"),
            table=env["STATE_TABLE"],
            work_queue_url=env["WORK_QUEUE_URL"],
            writeback_queue_url=env["WRITEBACK_QUEUE_URL"],
            provision_state_machine=env.get("PROVISION_STATE_MACHINE_ARN", ""),
            teardown_state_machine=env.get("TEARDOWN_STATE_MACHINE_ARN", ""),
            ingress_class=env.get("INGRESS_CLASS", "alb"),
            targets_queue_url=env.get("TARGETS_QUEUE_URL", ""),
            urgent_work_queue_url=env.get("URGENT_WORK_QUEUE_URL", ""),
            readiness_queue_url=env.get("READINESS_QUEUE_URL", ""),
            readiness_clock_seconds=float(env.get("READINESS_CLOCK_SECONDS") or 1.0),
            payload_bucket=env.get("PAYLOAD_BUCKET", ""),
            max_receive_count=int(env.get("MAX_RECEIVE_COUNT") or 0),
            retry_backoff_seconds=float(env.get("RETRY_BACKOFF_SECONDS") or 5.0),
            retry_backoff_max_seconds=float(env.get("RETRY_BACKOFF_MAX_SECONDS") or 300.0),
            lease_seconds=float(env.get("GROUP_LEASE_TIMEOUT") or 300.0),
        )
