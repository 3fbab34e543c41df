"""The tasks of the provision and teardown state machines (``statemachines/*.asl.json``).

Input is ``{"group": ..., "task": ..., ...}``:

* ``phase`` with ``phase``: one phase of :mod:`albatross.controller.phases`;
* ``wait`` with ``want`` (``active`` / ``gone``): raises ``LoadBalancerNotReady`` until
  the load balancer is there; the state machine retries with a bound;
* ``finish``: report success and release the group;

``phase``, ``wait`` and ``finish`` also get ``input``: the execution's state (its input,
with the :class:`~albatross.controller.phases.View` its reconcile found, and the wait's
answer as ``loadBalancer``), so that they search nothing by tags;
* ``fail`` with ``error``: report the failure and release the group. The one entry point
  for an execution that failed, whether its ``ReportFailure`` state runs it or something
  that saw the execution end does. Every member is warned, the leaving ones too (in a
  teardown every member is leaving: its finalizer stays until the group's resources are
  deleted), and a reconcile is requested at once, up to :data:`RETRIES` failed
  executions in a row within :data:`STREAK_SECONDS`; then the drift sweep, or a change,
  tries again. AWS refusing a live group's change for good (a ``UserError``, a quota
  say) is not retried at once: only a change, or the drift sweep, can make it pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
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

RETRIES = 3  # failed executions in a row that each request another reconcile at once
STREAK_SECONDS = 3600.0  # failures further apart than this are not "in a row"
_REFUSALS = frozenset({"UserError", "Duplicate"})  # the Catch's Error: AWS refused for good


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
    view = phases.view_of(event)  # what the reconcile that started the execution found
    if task == "phase":
        return phases.run_phase(settings=settings, store=store, group=group, phase=str(event.get("phase")), view=view)
    if task == "wait":
        return phases.check_load_balancer(settings=settings, group=group, want=str(event.get("want")), view=view)
    if task == "finish":
        members, leaving = _members(store, group)
        state = store.group_state(group)
        desired = Stack.from_json(state.model) if state.model else None
        if view is not None:  # the ids the execution knows, the names its wait read
            carried = event.get("input") or {}
            ready = carried.get("loadBalancer") if isinstance(carried, Mapping) else None
            actual, physical = phases.as_finished(
                store=store,
                group=group,
                cluster=settings.cluster,
                view=view,
                dns=ready.get("dns") if isinstance(ready, Mapping) else None,
            )
        else:
            # the status shows our load balancer's address, never one merely tagged like it
            found = phases.current_stack(settings=settings, store=store, group=group, state=state)
            actual, _ = set_aside(desired, found, state.owned)
            physical = phases.physical_ids(desired, actual)
        sent = report.finish(
            settings=settings, store=store, group=group, members=members, leaving=leaving, changed=True, actual=actual
        )
        index = discovery.index_of(desired, physical)
        if index is not None:  # the names the status shows, for a reconcile that reads nothing
            index = replace(index, dns=phases.dns_names(actual, physical))
        store.save_index(group, index.to_json() if index else None)
        again = report.end_run(settings=settings, store=store, group=group, succeeded=True)
        result = "applied by execution" if desired else "deleted by execution"
        store.record_outcome(group, _outcome(result))
        logger.info("execution finished", extra={"group": group, "result": result, "requeued": again})
        return {"group": group, "writeBacks": len(sent), "requeued": again}
    if task == "fail":
        members, leaving = _members(store, group)
        error = event.get("error")
        reason = _error_text(error)
        failures = store.count_failure(group, now=time.time(), window=STREAK_SECONDS)
        refused = isinstance(error, Mapping) and error.get("Error") in _REFUSALS
        # a teardown (or any member's leaving) holds finalizers: it is never left to a
        # change that may not come
        retry = (bool(leaving) or not refused) and failures <= RETRIES
        if retry:
            then = "Albatross tries again now"
        elif refused and not leaving:
            then = "the next edit of the group's Ingresses (their spec or annotations), or the drift sweep, tries again"
        else:
            then = (
                f"{failures} executions failed in a row: the drift sweep, or the next edit of its Ingresses, "
                "tries again"
            )
        report.failed(
            settings=settings, store=store, group=group, members=members, leaving=leaving, error=reason, then=then
        )
        store.save_index(group, None)  # what the execution left is unknown: search by tags next time
        ended = event.get("execution")  # reported from outside the execution: release only that one
        requeued = report.end_run(
            settings=settings,
            store=store,
            group=group,
            retry=retry,
            execution=ended if isinstance(ended, str) else None,
        )
        store.record_outcome(group, _outcome("execution failed", errors=[reason]))
        logger.error(
            "execution failed", extra={"group": group, "error": reason, "failures": failures, "requeued": requeued}
        )
        return {"group": group, "failed": reason, "requeued": requeued}
    raise UserError(f"unknown step task {task!r}")
