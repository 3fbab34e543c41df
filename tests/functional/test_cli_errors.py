"""The CLI's failures are one line on stderr that says what to do next: a stack that is
not there, an outputs file that is not there, a stack without the output a command
needs (exit status 1, an error), an Ingress named the wrong way, a time it cannot read
(exit status 2, the command line is wrong)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from albatross.cli import stack
from albatross.cli.main import main
from albatross.local import up

ROOT = Path(__file__).resolve().parents[2]


def error(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 1) -> str:
    assert main(argv) == code
    found = capsys.readouterr()
    assert found.out == ""
    assert found.err.count("\n") == 1
    return found.err.strip()


def test_errors_say_what_to_do(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)  # samconfig.toml names the default stack: albatross
    assert error(["status", "--endpoint-url", moto_endpoint], capsys) == (
        "albatross status: stack albatross not found in us-east-1: pass --stack-name or deploy with sam deploy"
    )
    assert error(["logs", "a/b", "--stack-name", "shop", "--endpoint-url", moto_endpoint], capsys) == (
        "albatross logs: stack shop not found in us-east-1: pass --stack-name or deploy with sam deploy"
    )
    missing = tmp_path / "nothing.json"
    assert error(["redrive", "--outputs", str(missing)], capsys) == (
        f"albatross redrive: cannot read {missing}: No such file or directory; is albatross local up running?"
    )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"StateTableName": "t", "ClusterName": "c"}))
    assert error(["replay", "--from", "1h", "--outputs", str(outputs)], capsys) == (
        "albatross replay: the stack has no output EventArchiveArn: update it with sam deploy"
    )
    assert error(["logs", "just-a-name", "--outputs", str(outputs)], capsys, code=2) == (
        "albatross logs: name an Ingress as NAMESPACE/NAME, or a group with --group"
    )
    assert error(["logs", "--group", "g", "--since", "yesterday", "--outputs", str(outputs)], capsys, code=2) == (
        "albatross logs: cannot read the time 'yesterday': write 1h, 30m, 2d or 2025-01-31T12:00:00Z"
    )
    monkeypatch.chdir(tmp_path)
    assert error(["local", "down"], capsys) == (
        f"albatross local down: albatross local up is not running for {tmp_path / '.albatross-local'}: "
        "start it with albatross local up"
    )


def test_a_stale_up_file_is_reported_and_removed_not_signalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a SIGKILL or a reboot, up.json stays and its pid may be another process's:
    ``local down`` sees the start time differ, signals nothing, and removes the file."""
    state = tmp_path / "local"
    state.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another process
    try:
        was = {"pid": other.pid, "endpoint": "http://127.0.0.1:1", "kube": "http://127.0.0.1:2", "cluster": "c"}
        stale = {**was, "started": f"{up.process_start(other.pid)}0"}  # the same pid, another process
        (state / "up.json").write_text(json.dumps(stale))
        assert error(["local", "down", "--dir", str(state)], capsys) == (
            f"albatross local down: albatross local up for {state} has stopped (pid {other.pid} ended or is another "
            "process now; its stale up.json is removed): start it again with albatross local up"
        )
        assert not (state / "up.json").exists()
        assert other.poll() is None  # not signalled
        (state / "up.json").write_text(json.dumps({**was, "started": up.process_start(other.pid)}))
        assert up.running(state).pid == other.pid  # the same start: the file is current
    finally:
        other.kill()
        other.wait(timeout=10)
    (state / "up.json").write_text(json.dumps({**was, "started": None}))  # no /proc where it was written
    assert "has stopped" in error(["local", "down", "--dir", str(state)], capsys)  # the pid is gone
    assert not (state / "up.json").exists()


def test_a_named_stack_wins_over_the_outputs_of_the_environment(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``albatross local up``'s env file sourced, ``--stack-name`` still names the
    stack read; with neither option, ``$ALBATROSS_OUTPUTS`` is the default."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"StateTableName": "t", "ClusterName": "c"}))
    monkeypatch.setenv(stack.OUTPUTS_ENV, str(outputs))
    assert error(["status", "--stack-name", "shop", "--endpoint-url", moto_endpoint], capsys) == (
        "albatross status: stack shop not found in us-east-1: pass --stack-name or deploy with sam deploy"
    )
    assert error(["replay", "--from", "1h"], capsys) == (
        "albatross replay: the stack has no output EventArchiveArn: update it with sam deploy"
    )
    elsewhere = tmp_path / "elsewhere.json"
    assert error(["replay", "--from", "1h", "--stack-name", "shop", "--outputs", str(elsewhere)], capsys) == (
        f"albatross replay: cannot read {elsewhere}: No such file or directory; is albatross local up running?"
    )
