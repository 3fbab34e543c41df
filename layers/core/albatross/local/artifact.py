"""Run Lambda invocations on the built artifact (``make package``), not on the source tree.

Each function gets execution environments as Lambda gives them: a process of the
template's Python (:mod:`albatross.local.bootstrap`, ``-I -S``: no dev venv, no site
packages) whose ``sys.path`` holds only the function's build folder and the built layer.
It imports the handler once (the cold start) and then serves one invocation at a time; a
second concurrent invocation gets a second environment. Only the environment variables
Lambda would set reach it: the function's own from the template, the runtime's
(``LAMBDA_TASK_ROOT``, ``_HANDLER``, ``AWS_LAMBDA_FUNCTION_NAME`` …), and the local AWS
endpoint with fake credentials. A missing dependency, an import of dev-only code, or a
parameter the layer's botocore rejects fails here exactly as it would in AWS.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
# What the local system passes through from its own environment (endpoint, credentials,
# Powertools switches); everything else a worker sees is set here.
PASSED = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")
PASSED_PREFIXES = ("POWERTOOLS_",)


@dataclass(frozen=True)
class Function:
    """One function of the built artifact."""

    name: str
    folder: Path  # <build>/<LogicalId>
    handler: str  # "app.lambda_handler"
    environment: dict[str, str]
    timeout: int = 60
    memory: int = 512


@dataclass(frozen=True)
class Build:
    """A ``make package`` output folder."""

    root: Path
    python: str  # the interpreter it was built for
    version: str = "3.12"  # its X.Y, the runtime's

    @classmethod
    def read(cls, root: Path) -> Build:
        manifest = json.loads((root / "albatross-build.json").read_text())
        return cls(root=root.resolve(), python=str(manifest["interpreter"]), version=str(manifest["python"]))

    @property
    def opt(self) -> Path:
        """What Lambda mounts at /opt: the layer's folder (holding ``python/``)."""
        return self.root / "CoreLayer"


@dataclass
class Result:
    payload: dict[str, Any] | Any
    errored: bool
    log_lines: list[str]
    init_ms: float


@dataclass
class _Environment:
    process: subprocess.Popen[bytes]
    responses: IO[str]
    log_path: Path
    log_offset: int = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def new_log_lines(self) -> list[str]:
        with self.log_path.open("rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        self.log_offset += len(data)
        return data.decode("utf-8", "replace").splitlines()

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.responses.close()


def _failed(environment: _Environment, error_type: str, message: str) -> Result:
    """An invocation the runtime, not the handler, ended (as Lambda reports it)."""
    return Result(
        payload={"errorType": error_type, "errorMessage": message},
        errored=True,
        log_lines=environment.new_log_lines(),
        init_ms=0.0,
    )


@dataclass
class Runtime:
    """Execution environments per function, made on demand, reused while idle."""

    build: Build
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="albatross-runtime-")))
    _idle: dict[str, list[_Environment]] = field(default_factory=dict)
    _all: list[_Environment] = field(default_factory=list)
    _made: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _environment(self, function: Function, runtime_fd: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in PASSED or k.startswith(PASSED_PREFIXES)}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return env | {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python" + self.build.version,
            "LAMBDA_TASK_ROOT": str(function.folder),
            "_HANDLER": function.handler,
            "ALBATROSS_OPT": str(self.build.opt),
            "ALBATROSS_RUNTIME_FD": str(runtime_fd),
            "ALBATROSS_TIMEOUT_MS": str(function.timeout * 1000),
            **function.environment,
        }

    def _start(self, function: Function) -> _Environment:
        with self._lock:
            self._made += 1
            log_path = self.scratch / f"{function.name}-{self._made}.log"
        read_fd, write_fd = os.pipe()
        try:
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603  # the build's interpreter, our bootstrap script
                    [self.build.python, "-I", "-S", str(BOOTSTRAP)],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._environment(function, write_fd),
                    cwd=function.folder,
                    pass_fds=(write_fd,),
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        made = _Environment(process=process, responses=os.fdopen(read_fd, encoding="utf-8"), log_path=log_path)
        with self._lock:
            self._all.append(made)
        return made

    def invoke(self, function: Function, event: Any, context: dict[str, Any]) -> Result:
        with self._lock:
            idle = self._idle.setdefault(function.name, [])
            environment = idle.pop() if idle else None
        if environment is None or not environment.alive():
            environment = self._start(function)
        assert environment.process.stdin is not None
        line = ""
        try:
            environment.process.stdin.write(json.dumps({"event": event, "context": context}).encode() + b"\n")
            environment.process.stdin.flush()
            with selectors.DefaultSelector() as waiting:
                waiting.register(environment.responses, selectors.EVENT_READ)
                if not waiting.select(timeout=function.timeout):  # Lambda stops the invocation, and the environment
                    environment.process.kill()
                    environment.process.wait()
                    return _failed(
                        environment, "Sandbox.Timedout", f"Task timed out after {function.timeout:.2f} seconds"
                    )
            line = environment.responses.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:  # the process died: Lambda reports it and starts a new environment next time
            code = environment.process.wait()
            return _failed(environment, "Runtime.ExitError", f"Runtime exited with error: exit status {code}")
        response = json.loads(line)
        with self._lock:
            self._idle[function.name].append(environment)
        errored = "error" in response
        return Result(
            payload=response["error"] if errored else response.get("result"),
            errored=errored,
            log_lines=environment.new_log_lines(),
            init_ms=float(response.get("initMs", 0.0)),
        )

    def close(self) -> None:
        """Stop every environment (each, whatever the others do) and remove the logs."""
        with self._lock:
            environments, self._all, self._idle = self._all, [], {}
        for environment in environments:
            try:
                environment.stop()
            except Exception:  # noqa: BLE001  # one that will not stop must not keep the others running
                environment.process.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)
