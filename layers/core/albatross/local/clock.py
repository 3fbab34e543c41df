"""Step Functions' own waits on the local system's scaled clock.

The local system runs every duration ``time_scale`` times as long as AWS would (queues'
visibility timeouts, handlers' backoffs). The state machines' ``Retry`` intervals and
``Wait`` states are waited by moto's ASL interpreter, and ASL cannot express a scaled
one in the definition: ``IntervalSeconds`` is a whole number of seconds, at least 1, so
an interval of 2 s with a backoff rate of 2 over 6 attempts waits 63 s locally however
small the scale, where AWS's 126 s scaled by 0.05 is 6.3 s. So the definitions are
deployed as written and :func:`scaled` makes the interpreter wait ``time_scale`` of each
interval and Wait (backoff and attempts unchanged), for as long as the system runs.
The same holds for botocore's own retries (``standard`` mode's exponential backoff, up
to 20 s a retry, slept in ``botocore.endpoint``): against the local AWS, a throttled call
is retried as many times, each backoff ``time_scale`` as long. Moto's backends are
process-wide; so is this clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.endpoint
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

_lock = threading.Lock()


class _ScaledTime:
    """The ``time`` module as a module that sleeps through it sees it: sleeps scaled."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.time_scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def scaled(time_scale: float) -> Iterator[None]:
    """While inside, moto's Retry and Wait, and botocore's retry backoff, last ``time_scale`` of their seconds."""

    def wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:  # moto's method's signature
        deadline = time.monotonic() + wait_seconds * time_scale
        # woken early by a state change (a stop, say): stop waiting once the program is over
        while env.is_running() and (left := deadline - time.monotonic()) > 0:
            env.program_state_event.wait(left)

    # both sleep through their module's time.sleep: a Retry's interval, botocore's backoff
    modules = [vars(retrier_decl), vars(botocore.endpoint)]
    with _lock:
        saved = ([m["time"] for m in modules], WaitFunction._wait_interval)
        for m in modules:
            m["time"] = _ScaledTime(time_scale)
        WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]  # the Wait state's one wait
    try:
        yield
    finally:
        with _lock:
            for m, was in zip(modules, saved[0], strict=True):
                m["time"] = was
            WaitFunction._wait_interval = saved[1]  # type: ignore[method-assign]  # restored
