"""Run Lambda invocations in this process, with the real handlers.

moto's Lambda backend would start a container in ``LambdaFunction._invoke_lambda``; we
replace that one method so that every invocation (from Step Functions, from the local
dispatcher, from ``aws lambda invoke``) loads the function's ``Handler`` from its
``CodeUri`` folder and calls it. An exception becomes a ``FunctionError`` whose payload's
``errorType`` is the exception class name, as in AWS, so Retry/Catch match it. Each
invocation's log lines go to the function's log group (:mod:`albatross.local.logship`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from moto.awslambda.models import LambdaFunction

from albatross.local import artifact, logship

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Code:
    folder: Path
    handler: str  # "module.function"
    # Set when the function runs from the built artifact (:mod:`albatross.local.artifact`).
    built: tuple[artifact.Runtime, artifact.Function] | None = None
    timeout: float = 60.0  # the function's Timeout, seconds: what its context counts down from


@dataclass
class _Context:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline: float = field(default_factory=lambda: time.monotonic() + 60.0)  # when Lambda would stop it

    def get_remaining_time_in_millis(self) -> int:
        """What is left of the invocation's timeout, as Lambda's context says (handlers
        bound their waits by it; the in-process runner does not stop one that overruns)."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


# The function whose handler runs in this thread (None: none does): the identity its AWS
# calls are made under (albatross.local.awsevents records them as its role's).
running: ContextVar[str | None] = ContextVar("albatross_local_running", default=None)

log = logging.getLogger("albatross.local.lambdas")

_registry: dict[str, Code] = {}
_loaded: dict[str, Handler] = {}
_formatters: dict[str, logging.Formatter] = {}  # function → its module's Powertools formatter
_lock = threading.Lock()
# Handlers running now: a local cloud that goes waits for them (see routed), so none
# outlives its system and logs or calls into the next one started in this process.
_in_flight = 0
SETTLE = 60.0
_settled = threading.Condition(_lock)


def register(function_name: str, code: Code) -> None:
    with _lock:
        _registry[function_name] = code


def _handler(function_name: str) -> Handler:
    with _lock:
        if function_name not in _loaded:
            code = _registry[function_name]
            module_name, _, attr = code.handler.rpartition(".")
            spec = importlib.util.spec_from_file_location(
                f"albatross_local_fn_{function_name.replace('-', '_')}", code.folder / f"{module_name}.py"
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {code.handler} from {code.folder}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _loaded[function_name] = getattr(module, attr)
            found = [v for v in vars(module).values() if isinstance(v, Logger)]
            if found:
                _formatters[function_name] = found[0].registered_formatter
        return _loaded[function_name]


def invoke(function_name: str, arn: str, event: Any) -> tuple[str, bool]:
    """Call the handler; returns (payload JSON, errored)."""
    with _lock:
        code = _registry.get(function_name)
    timeout = code.timeout if code is not None else 60.0
    context = _Context(
        function_name=function_name,
        invoked_function_arn=arn,
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + timeout,
    )
    token = running.set(function_name)
    try:
        return _run(function_name, context, event)
    finally:
        running.reset(token)


def _run(function_name: str, context: _Context, event: Any) -> tuple[str, bool]:
    with logship.invocation(function_name, context.aws_request_id) as run:
        context.log_group_name, context.log_stream_name = f"/aws/lambda/{function_name}", logship.stream_name(run)
        with _lock:
            built = _registry[function_name].built
        if built is not None:
            runtime, function = built
            result = runtime.invoke(function, event, asdict(context))
            for line in result.log_lines:
                run.add(line)
            return json.dumps(result.payload), result.errored
        try:
            handler = _handler(function_name)
            run.formatter = _formatters.get(function_name)
            result = handler(event, context)
        except Exception as e:  # noqa: BLE001  # every handler error becomes a FunctionError, as in AWS
            run.failed(e)
            payload = {
                "errorType": type(e).__name__,
                "errorMessage": str(e),
                "stackTrace": traceback.format_exception(e)[-3:],
            }
            return json.dumps(payload), True
    return json.dumps(result), False


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    global _in_flight
    if isinstance(event, str):
        event = json.loads(event or "{}")
    with _lock:
        _in_flight += 1
    try:
        payload, errored = invoke(self.function_name, self.function_arn, event if event is not None else {})
    finally:
        with _lock:
            _in_flight -= 1
            _settled.notify_all()
    return payload, errored, ""


def settle(timeout: float = SETTLE) -> None:
    """Wait until no handler runs (at most ``timeout`` seconds, then say so)."""
    with _lock:
        if not _settled.wait_for(lambda: _in_flight == 0, timeout=timeout):
            log.warning("%d handler(s) still running after %s s; going on", _in_flight, timeout)


@contextmanager
def routed() -> Iterator[None]:
    """Route moto's Lambda invocations to the in-process handlers while active. On the way
    out, no new invocation is routed and those running are waited for (up to ``SETTLE``
    seconds): a handler that outlived its system would log and call into the next."""
    original = LambdaFunction._invoke_lambda
    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]  # the documented seam, see module docstring
    try:
        yield
    finally:
        LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]  # restore
        settle()
        with _lock:
            _registry.clear()
            _loaded.clear()
            _formatters.clear()
