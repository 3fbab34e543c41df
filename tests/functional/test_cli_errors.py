"""The CLI's failures are one line on stderr that says what to do next (exit status 2):
a stack that is not there, an outputs file that is not there, a stack without the
output a command needs, an Ingress named the wrong way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from albatross.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
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
    assert error(["logs", "just-a-name", "--outputs", str(outputs)], capsys) == (
        "albatross logs: name an Ingress as NAMESPACE/NAME, or a group with --group"
    )
    assert error(["logs", "--group", "g", "--since", "yesterday", "--outputs", str(outputs)], capsys) == (
        "albatross logs: cannot read the time 'yesterday': write 1h, 30m, 2d or 2025-01-31T12:00:00Z"
    )
    monkeypatch.chdir(tmp_path)
    assert error(["local", "down"], capsys) == (
        f"albatross local down: albatross local up is not running for {tmp_path / '.albatross-local'}: "
        "start it with albatross local up"
    )
