"""The tasks of the provision and teardown state machines (``statemachines/*.asl.json``).

Input is ``{"group": ..., "task": ..., ...}``:

* ``phase`` with ``phase``: one phase of :mod:`albatross.controller.phases`;
* ``wait`` with ``want`` (``active`` / ``gone``): raises ``LoadBalancerNotReady`` until
  the load balancer is there; the state machine retries with a bound;
* ``finish``: report success and release the group;
* ``fail`` with ``error``: report the failure (Warning Events) and release the group.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import discovery
from albatross.aws.errors import UserError
from albatross.controller import phases, report
from albatross.controller.settings import Settings
from albatross.model.stack import Stack
from albatross.plan.planner import set_aside
from albatross.store.table import Store

logger = Logger(child=True)


def _members(store: Store, group: str) -> tuple[list[str], list[Mapping[str, str]]]:
    leaving = list(store.group_state(group).leaving)
    gone = {item["ingress"] for item in leaving}
    return [k for k in store.members(group) if k not in gone], leaving


def _error_text(error: Any) -> str:
    """The reason from a Catch's ``{"Error", "Cause"}``; Cause holds the Lambda error JSON."""
    if not isinstance(error, Mapping):
        return str(error)
    cause = error.get("Cause", "")
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (TypeError, ValueError, AttributeError):
        message = cause
    return f"{error.get('Error', 'Error')}: {message}"


def _outcome(result: str, errors: list[str] | None = None) -> dict[str, Any]:
    return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "result": result, "errors": errors or []}


def run(event: Mapping[str, Any], *, settings: Settings, store: Store) -> dict[str, Any]:
    group, task = event.get("group"), event.get("task")
    if not isinstance(group, str) or not group:
        raise UserError("step input has no group")
    if task == "phase":
        return phases.run_phase(settings=settings, store=store, group=group, phase=str(event.get("phase")))
    if task == "wait":
        return phases.check_load_balancer(settings=settings, group=group, want=str(event.get("want")))
    if task == "finish":
        members, leaving = _members(store, group)
        state = store.group_state(group)
        desired = Stack.from_json(state.model) if state.model else None
        # the status shows our load balancer's address, never one merely tagged like it
        actual, _ = set_aside(desired, discovery.find_stack(cluster=settings.cluster, stack_id=group), state.owned)
        sent = report.finish(
            settings=settings, store=store, group=group, members=members, leaving=leaving, changed=True, actual=actual
        )
        index = discovery.index_of(desired, phases.physical_ids(desired, actual))
        store.save_index(group, index.to_json() if index else None)
        again = report.end_run(settings=settings, store=store, group=group)
        result = "applied by execution" if desired else "deleted by execution"
        store.record_outcome(group, _outcome(result))
        logger.info("execution finished", extra={"group": group, "result": result, "requeued": again})
        return {"group": group, "writeBacks": len(sent), "requeued": again}
    if task == "fail":
        members, _ = _members(store, group)
        reason = _error_text(event.get("error"))
        report.failed(settings=settings, store=store, group=group, members=members, error=reason)
        store.save_index(group, None)  # what the execution left is unknown: search by tags next time
        report.end_run(settings=settings, store=store, group=group)
        store.record_outcome(group, _outcome("execution failed", errors=[reason]))
        logger.error("execution failed", extra={"group": group, "error": reason})
        return {"group": group, "failed": reason}
    raise UserError(f"unknown step task {task!r}")
