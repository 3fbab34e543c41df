"""One reconcile of a group at a time: its lease (docs/adr/0017-a-lane-for-user-changes.md).

The work queue and the urgent queue each serve a group to one receiver at a time, but
not to one across the two: two reconciles of one group, one per lane, could run at once,
each reading the group's records while the other changes them. Each takes the group's
lease first (a conditional write on its state item), and gives it back when it ends; one
that finds it taken raises :class:`~albatross.controller.events.NotDue`: its record goes
back unattempted, due a few seconds later, not failed (ADR 0009). A lease left by a
crashed invocation ends at its time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from aws_lambda_powertools import Logger

from albatross.controller.events import NotDue
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(child=True)


@contextlib.contextmanager
def leased(settings: Settings, store: Store, group: str, *, holder: str) -> Iterator[None]:
    """Hold ``group``'s lease for ``holder`` (a record's message id) while the block runs."""
    held = store.lease(group, holder=holder, now=time.time(), seconds=settings.lease_seconds)
    if held:
        logger.info("group leased by other work", extra={"group": group, "seconds": round(held, 1)})
        raise NotDue(min(held, settings.retry_backoff_seconds))
    try:
        yield
    finally:
        store.release_lease(group, holder=holder)
