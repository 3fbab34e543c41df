"""Count the AWS calls the controller makes, by service and operation, at the botocore
boundary of the shared clients (what the handlers use in this process)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from albatross.aws import clients

_READ_PREFIXES = ("Describe", "Get", "List", "Receive", "Query", "Scan", "BatchGet")
INFRA = ("elasticloadbalancing", "ec2", "tagging", "acm", "wafv2", "shield")  # what the AWS figures count


def is_mutating(operation: str) -> bool:
    return not operation.startswith(_READ_PREFIXES)


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._id = f"albatross-call-counter-{id(self)}"
        clients.add_hook("before-call.*.*", self._record, unique_id=self._id)

    def _record(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[(model.service_model.endpoint_prefix, model.name)] += 1

    def close(self) -> None:
        clients.remove_hook(self._id)

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.calls)

    @staticmethod
    def reads(calls: Counter[tuple[str, str]], services: tuple[str, ...] = INFRA) -> int:
        return sum(n for (svc, op), n in calls.items() if svc in services and not is_mutating(op))

    @staticmethod
    def mutating(calls: Counter[tuple[str, str]], services: tuple[str, ...] = INFRA) -> int:
        return sum(n for (svc, op), n in calls.items() if svc in services and is_mutating(op))
