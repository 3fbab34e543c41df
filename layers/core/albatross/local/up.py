"""``albatross local up`` / ``down``: the offline system kept running for other terminals.

``up`` starts :func:`~albatross.local.system.local_system` (moto server, the Kubernetes
API double, the dispatcher, the forwarder) and writes a state directory:

* ``kubeconfig``: the API double, for ``kubectl --kubeconfig`` (or ``KUBECONFIG``);
* ``outputs.json``: the stack's outputs, for ``albatross status|logs|redrive|replay
  --outputs``;
* ``env``: ``export`` lines to ``source`` (``AWS_ENDPOINT_URL``, fake credentials and
  region, ``KUBECONFIG``, ``ALBATROSS_OUTPUTS``), after which the CLI and ``kubectl``
  need no options;
* ``up.json``: the endpoints, the pid and when that process started, written last (its
  presence means ready);
* ``forwarder.log``, ``functions.log`` (what the handlers print), ``albatross.log``
  (warnings of the local runtime).

It runs until SIGTERM or SIGINT; ``down`` sends SIGTERM to the pid in ``up.json`` and
waits for the process to end. A pid alone is not enough: after a SIGKILL or a reboot
``up.json`` stays behind and the pid may be another process's by now. So ``up.json``
also holds the process's start (the boot and ``/proc/<pid>/stat``'s start time), and a
file whose pid is gone or started at another time is stale: reported and removed, and
nothing is signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(".albatross-local")
READY = "up.json"


class LocalError(Exception):
    """The local system is not in the state a command needs; the message says what to do."""


@dataclass(frozen=True)
class Running:
    pid: int
    endpoint: str
    kube: str
    cluster: str
    folder: Path
    started: str | None = None  # see process_start(); None: not known (no /proc)

    @property
    def kubeconfig(self) -> Path:
        return self.folder / "kubeconfig"

    @property
    def outputs(self) -> Path:
        return self.folder / "outputs.json"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """When ``pid`` started: the boot's id and the start time in clock ticks after boot
    (``/proc/<pid>/stat`` field 22). With the pid it names one process, even across
    reboots. None when the process is gone or there is no /proc (not Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 2, the command in parentheses, may hold spaces and parentheses itself
    return f"{boot} {stat.rsplit(')', 1)[1].split()[22 - 3]}"


def _is_up(pid: int, start: str | None) -> bool:
    """``pid`` is still the process that wrote ``up.json`` (not just any process by now)."""
    return alive(pid) and (start is None or process_start(pid) == start)


def running(folder: Path) -> Running:
    """The system ``up`` runs for ``folder``, or LocalError; a stale ``up.json`` (the
    process is gone, its pid maybe another's now) is removed."""
    path = folder / READY
    try:
        text = path.read_text()
        data: dict[str, Any] = json.loads(text)
    except (OSError, ValueError):
        raise LocalError(f"albatross local up is not running for {folder}: start it with albatross local up") from None
    found = Running(
        pid=int(data["pid"]),
        endpoint=str(data["endpoint"]),
        kube=str(data["kube"]),
        cluster=str(data["cluster"]),
        folder=folder,
        started=str(data["started"]) if data.get("started") else None,
    )
    if not _is_up(found.pid, found.started):
        with contextlib.suppress(OSError):
            if path.read_text() == text:  # not one a new up has written meanwhile
                path.unlink()
        raise LocalError(
            f"albatross local up for {folder} has stopped (pid {found.pid} ended or is another process now; "
            f"its stale {READY} is removed): start it again with albatross local up"
        )
    return found


def _write(path: Path, text: str) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_text(text)
    temp.replace(path)  # readers never see half a file


def _env(endpoint: str, folder: Path) -> str:
    from albatross.local.cloud import FAKE_CREDENTIALS  # imports moto: only up needs it, not down or apply

    values = {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "KUBECONFIG": str(folder / "kubeconfig"),
        "ALBATROSS_OUTPUTS": str(folder / "outputs.json"),
    }
    return "".join(f"export {k}={v}\n" for k, v in values.items())


def up(
    root: Path,
    folder: Path,
    *,
    out: Callable[[str], None],
    stop: threading.Event | None = None,
    realistic: bool = False,
) -> None:
    """Run the system until SIGTERM/SIGINT (or ``stop``), with its state in ``folder``;
    ``realistic``: its AWS under AWS's limits (:mod:`albatross.local.realistic`)."""
    from albatross.local.system import local_system  # moto and the rest, seconds: here, not at import

    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        found = running(folder)
    except LocalError:
        (folder / READY).unlink(missing_ok=True)
    else:
        raise LocalError(f"already running (pid {found.pid}) for {folder}: albatross local down --dir {folder} first")
    halt = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: halt.set())
    started = time.monotonic()
    warnings = logging.FileHandler(folder / "albatross.log")
    warnings.setLevel(logging.WARNING)
    logging.getLogger().addHandler(warnings)
    out(f"starting the offline system in {folder} ...")
    try:
        with (
            (folder / "functions.log").open("a", buffering=1) as printed,
            redirect_stdout(printed),
            local_system(root, work_dir=folder, log_level="INFO", realistic=realistic) as system,
        ):
            endpoint = system.cloud.endpoint
            _write(folder / "outputs.json", json.dumps(system.cloud.deployment.outputs, indent=2) + "\n")
            _write(folder / "env", _env(endpoint, folder))
            state = {
                "pid": os.getpid(),
                "started": process_start(os.getpid()),
                "endpoint": endpoint,
                "kube": system.kube.url,
                "cluster": system.cluster,
                "realistic": realistic,  # AWS's limits on the endpoint: throttling, quotas, provisioning
            }
            _write(folder / READY, json.dumps(state, indent=2) + "\n")
            out(_banner(folder, endpoint, system.kube.url, time.monotonic() - started, realistic=realistic))
            while not halt.wait(0.5):
                if system.forwarder.poll() is not None:
                    out(f"the forwarder exited ({system.forwarder.returncode}); see {folder / 'forwarder.log'}")
                    system.restart_forwarder()
            out("stopping ...")
    finally:
        (folder / READY).unlink(missing_ok=True)
        logging.getLogger().removeHandler(warnings)
        warnings.close()
    out("stopped")


def _banner(folder: Path, endpoint: str, kube: str, took: float, *, realistic: bool = False) -> str:
    shown = os.path.relpath(folder)
    shown = str(folder) if shown.startswith("..") else shown
    flag = "" if folder == DEFAULT_DIR.resolve() else f" --dir {shown}"
    return "\n".join(
        [
            f"ready in {took:.1f}s (pid {os.getpid()}): AWS (moto{', under AWS limits' if realistic else ''}) "
            f"at {endpoint}, Kubernetes API double at {kube}",
            "from another terminal:",
            f"  source {os.path.join(shown, 'env')}",
            f"  albatross local apply{flag} -f examples/2048/2048.yaml",
            "  kubectl get ingress -A",
            "  albatross status",
            "  albatross logs game-2048/game-2048",
            f"  albatross local down{flag}",
        ]
    )


def down(folder: Path, *, timeout: float = 30.0, out: Callable[[str], None] | None = None) -> int:
    """Stop the system ``up`` runs for ``folder``; returns its pid. ``out`` hears that
    it is stopping (which takes a few seconds)."""
    found = running(folder.resolve())  # checks the pid is still up's, not a reused one
    if out is not None:
        out(f"stopping albatross local up (pid {found.pid}) ...")
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # up removes its ready file once everything is stopped, just before it exits
    while _is_up(found.pid, found.started) and (found.folder / READY).exists():
        if time.monotonic() > deadline:
            raise LocalError(f"pid {found.pid} did not stop in {timeout:.0f}s: kill {found.pid}")
        time.sleep(0.1)
    return found.pid
