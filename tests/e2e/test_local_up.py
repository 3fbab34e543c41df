"""``albatross local up`` as a user runs it: its own process, then from "another
terminal" ``local apply``, ``kubectl``, ``status``, ``logs``, ``replay`` and ``local
scale`` through the files it wrote, and ``local down`` stops everything (ports closed).

The replay sends the archived events again: ingest drops the changes it has as stale and
ignores the replayed Resync (which would tombstone objects made since); nothing is lost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest

from albatross.aws import clients
from albatross.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash") or "/bin/bash"
KEY = "game-2048/game-2048"


def until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"timed out waiting for {what}")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def doc_block(page: Path, heading: str) -> list[str]:
    """The lines of the first ``sh`` block under ``heading`` in ``page``."""
    text = page.read_text()
    section = text[text.index(heading) :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    return block[: block.index("```")].splitlines()


def closed(url: str) -> bool:
    parsed = urlparse(url)
    try:
        socket.create_connection((str(parsed.hostname), int(parsed.port or 80)), timeout=1).close()
    except OSError:
        return True
    return False


def test_local_up_serves_kubectl_and_the_cli_until_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "local"
    banner = tmp_path / "up.out"
    with banner.open("w") as printed:
        up = subprocess.Popen(  # noqa: S603  # our own CLI, arguments from this test
            [sys.executable, "-m", "albatross.cli.main", "local", "up", "--dir", str(state)],
            cwd=ROOT,
            stdout=printed,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = until("local up to be ready", lambda: (state / "up.json").exists() and up.poll() is None)
        assert ready, banner.read_text()
        found = json.loads((state / "up.json").read_text())
        assert found["pid"] == up.pid
        assert f"source {state / 'env'}" in until(
            "the banner", lambda: "ready in" in banner.read_text() and banner.read_text()
        )
        env = (state / "env").read_text()
        assert f"export AWS_ENDPOINT_URL={found['endpoint']}" in env
        assert f"export KUBECONFIG={state / 'kubeconfig'}" in env
        aws = ["--outputs", str(state / "outputs.json"), "--endpoint-url", found["endpoint"]]

        applied = run(["local", "apply", "--dir", str(state), "-f", str(ROOT / "examples/2048/2048.yaml")], capsys)
        assert applied.splitlines() == [
            "namespace/game-2048 created",
            "deployment.apps/game-2048 created",
            "service/game-2048 created",
            "ingress.networking.k8s.io/game-2048 created",
        ]
        kubectl = [
            "/usr/bin/kubectl",
            "--kubeconfig",
            str(state / "kubeconfig"),
            "get",
            "ingress",
            "-n",
            "game-2048",
            "-o",
            "custom-columns=NAME:.metadata.name,ADDRESS:.status.loadBalancer.ingress[0].hostname",
        ]

        def address() -> str:
            done = subprocess.run(kubectl, capture_output=True, text=True, check=True, timeout=10)  # noqa: S603  # fixed
            rows = done.stdout.split()
            return rows[-1] if rows[-1].endswith(".elb.amazonaws.com") else ""

        hostname = until("the ALB's address in kubectl", address)

        status = json.loads(run(["status", "--output", "json", *aws], capsys))
        jsonschema.validate(status, json.loads((ROOT / "docs/schema/status.v1.json").read_text()))
        [group] = status["groups"]
        assert group["loadBalancer"]["dns"] == hostname
        assert group["loadBalancer"]["state"] == "active"

        # docs/operations.md's blocks, each line in bash as written, the env file sourced
        sourced = f"source {state / 'env'}\n"
        path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"

        def in_bash(line: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(  # noqa: S603  # the page's line, in bash
                [BASH, "-euo", "pipefail", "-c", sourced + line],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env={**os.environ, "PATH": path},
            )

        def shell(line: str) -> str:
            done = in_bash(line)
            assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
            return done.stdout

        for line in doc_block(ROOT / "docs/operations.md", "## The state of a group from a terminal"):
            shown = shell(line)
            if "json" in line:
                assert [g["group"] for g in json.loads(shown)["groups"]] == [KEY]
            else:
                assert shown.startswith(f"IngressGroup {KEY}  ({KEY})"), shown

        history = run(["logs", KEY, *aws], capsys)
        assert "provision  INFO     execution started" in history
        assert "step       INFO     applying  step=create Listener 80" in history
        assert "provision  INFO     execution succeeded" in history

        *once, follow = doc_block(ROOT / "docs/operations.md", "## Logs")
        for line in once:
            shown = shell(line)
            if "json" in line:
                assert json.loads(shown)["group"] == KEY
            else:
                assert shown.startswith(f"IngressGroup {KEY}  ({KEY})  since "), shown
        for line in doc_block(ROOT / "docs/operations.md", "## Where things land when they fail"):
            assert shell(line) == "nothing in the dead-letter queues\n"
        # --follow prints the history, then waits for more until Ctrl-C, which ends it with 0.
        # A shell starts a background job with SIGINT ignored, and a child inherits that (a
        # suite run as `make test &` did): the command starts as from a terminal, SIGINT live
        before = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            following = subprocess.Popen(  # noqa: S603  # the page's line, in bash
                [BASH, "-euo", "pipefail", "-c", sourced + "exec " + follow],
                cwd=ROOT,
                env={**os.environ, "PATH": path},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        finally:
            signal.signal(signal.SIGINT, before)
        try:
            assert following.stdout is not None
            assert KEY in following.stdout.readline()
            following.send_signal(signal.SIGINT)
            # read what it still prints while it stops: a pipe left full would block its
            # last flush, and the exit with it (the history of a busy system fills one)
            following.communicate(timeout=60)
            assert following.returncode == 0
        finally:
            if following.poll() is None:
                following.kill()
            following.communicate(timeout=30)

        assert (
            run(["local", "scale", "--dir", str(state), KEY, "5"], capsys) == "deployment.apps/game-2048 scaled to 5\n"
        )

        def targets() -> int:
            found = json.loads(run(["status", "--output", "json", *aws], capsys))
            return len(found["groups"][0]["targetGroups"][0]["targets"])

        until("5 targets", lambda: targets() == 5)

        ingest = next(g for g in clients.logs().describe_log_groups()["logGroups"] if "Ingest" in g["logGroupName"])

        def events_ingested() -> int:
            """The events ingest has taken so far: one correlation id (the event id) each."""
            pages = clients.logs().get_paginator("filter_log_events").paginate(logGroupName=ingest["logGroupName"])
            lines = [json.loads(e["message"]) for p in pages for e in p["events"] if e["message"].startswith("{")]
            return len({line["correlation_id"] for line in lines if line.get("correlation_id")})

        archived = events_ingested()  # each one the bus archived, and the replay sends again

        # docs/operations.md's replay block, verbatim (moto replays every archived event, whatever the window)
        [line] = doc_block(ROOT / "docs/operations.md", "## Replaying the event archive")
        replayed = in_bash(line)
        assert replayed.returncode == 0, replayed.stderr
        [line] = replayed.stdout.splitlines()  # its end said once: the window, and the events ingest took
        found_line = re.fullmatch(
            r"replay albatross-\S+ COMPLETED in [\d.]+s: events of \S+Z to \S+Z; (\d+) reached ingest", line
        )
        assert found_line, line
        # a Resync the forwarder sent meanwhile may be archived and replayed too
        assert int(found_line.group(1)) >= archived > 0, (line, archived)
        assert "completed" not in replayed.stderr.lower()

        def ingest_saw(text: str) -> bool:
            name = ingest["logGroupName"]
            return bool(clients.logs().filter_log_events(logGroupName=name, filterPattern=f'"{text}"')["events"])

        until("the replayed Resync", lambda: ingest_saw("ignoring a replayed resync"))
        until("a replayed change dropped", lambda: ingest_saw("dropped a stale change"))
        assert targets() == 5  # nothing was lost
        assert address() == hostname

        assert run(["local", "down", "--dir", str(state)], capsys) == f"stopped albatross local up (pid {up.pid})\n"
        assert up.wait(timeout=15) == 0
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=15)
    assert "stopped" in banner.read_text()
    assert not (state / "up.json").exists()
    assert closed(found["endpoint"])
    assert closed(found["kube"])
    assert main(["local", "down", "--dir", str(state)]) == 1  # an error, not a wrong command line
    assert "albatross local up is not running" in capsys.readouterr().err
