"""A stand-in for the Lambda Python runtime, run as a script by the built artifact's interpreter.

:mod:`albatross.local.artifact` starts it as ``python3.12 -I -S bootstrap.py``: no site
packages, no dev venv, nothing from this repository on ``sys.path`` but what the Lambda
runtime would put there — the function's folder (``LAMBDA_TASK_ROOT``) and the layer
(``/opt/python`` and ``/opt/python/lib/pythonX.Y/site-packages``, here under
``ALBATROSS_OPT``). It imports the handler named by ``_HANDLER`` once (the init phase, as
in a new execution environment), then serves invocations one at a time: a JSON request
per line on stdin, a JSON response per line on the file descriptor ``ALBATROSS_RUNTIME_FD``.
The handler's own output (stdout, stderr) is the log stream, as in Lambda.

Standard library only, and nothing of ``albatross``: the layer has no ``albatross.local``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    """The attributes of the runtime's ``LambdaContext`` that handlers and Powertools read."""

    def __init__(self, fields: dict[str, Any], timeout_ms: int) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(fields.get("memory_limit_in_mb", 128))
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields.get("log_group_name", "")
        self.log_stream_name: str = fields.get("log_stream_name", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error_type: str, error: BaseException | str) -> dict[str, Any]:
    if isinstance(error, BaseException):
        return {
            "errorType": error_type,
            "errorMessage": str(error),
            "stackTrace": traceback.format_exception(error)[-3:],
        }
    return {"errorType": error_type, "errorMessage": error}


def _load() -> tuple[Any, dict[str, Any] | None]:
    opt = os.environ["ALBATROSS_OPT"]
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"], f"{opt}/python/lib/python{version}/site-packages", f"{opt}/python"]
    module_name, _, attr = os.environ["_HANDLER"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001  # the runtime reports any import failure, on every invocation
        print(f"[ERROR] Runtime.ImportModuleError: Unable to import module '{module_name}': {e}", file=sys.stderr)
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    handler = getattr(module, attr, None)
    if handler is None:
        return None, _error("Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'")
    return handler, None


def main() -> int:
    out = os.fdopen(int(os.environ["ALBATROSS_RUNTIME_FD"]), "w", encoding="utf-8")
    started = time.perf_counter()
    handler, init_error = _load()
    init_ms = (time.perf_counter() - started) * 1000
    timeout_ms = int(os.environ.get("ALBATROSS_TIMEOUT_MS", "60000"))
    for line in sys.stdin:
        request = json.loads(line)
        response: dict[str, Any] = {"initMs": init_ms}
        init_ms = 0.0  # reported once, by the first invocation (the cold start)
        if init_error is not None:
            response["error"] = init_error
        else:
            try:
                result = handler(request["event"], Context(request["context"], timeout_ms))
            except Exception as e:  # noqa: BLE001  # every handler error is the invocation's error, as in Lambda
                print(f"[ERROR] {type(e).__name__}: {e}", file=sys.stderr)
                traceback.print_exception(e, file=sys.stderr)
                response["error"] = _error(type(e).__name__, e)
            else:
                try:
                    response["result"] = json.loads(json.dumps(result))
                except (TypeError, ValueError) as e:
                    response["error"] = _error("Runtime.MarshalError", e)
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(json.dumps(response) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
