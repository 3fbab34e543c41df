"""samconfig.toml deploys what template.yaml asks for: every environment's
``parameter_overrides`` names each parameter without a Default (CloudFormation refuses a
stack without one), names only parameters the template declares, and gives values the
template's AllowedValues/AllowedPattern accept."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())
ENVIRONMENTS = sorted(name for name, table in CONFIG.items() if isinstance(table, dict))


@pytest.fixture(scope="module")
def parameters() -> dict[str, dict[str, Any]]:
    declared: dict[str, dict[str, Any]] = load(ROOT / "template.yaml")["Parameters"]
    return declared


def overrides(environment: str) -> dict[str, str]:
    value = CONFIG[environment]["deploy"]["parameters"]["parameter_overrides"]
    # SAM CLI takes one string of Key="value" pairs, or a list of them
    pairs = shlex.split(value) if isinstance(value, str) else [p for item in value for p in shlex.split(item)]
    return dict(pair.split("=", 1) for pair in pairs)


def test_there_are_environments_to_check() -> None:
    assert {"default", "prod"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_parameter_without_a_default_is_given(environment: str, parameters: dict[str, dict[str, Any]]) -> None:
    required = {name for name, spec in parameters.items() if "Default" not in spec}
    assert "VpcId" in required  # the one a newcomer's prod deploy lacked
    missing = required - set(overrides(environment))
    assert not missing, f"[{environment}] parameter_overrides lacks {sorted(missing)}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_override_is_a_declared_parameter_with_an_acceptable_value(
    environment: str, parameters: dict[str, dict[str, Any]]
) -> None:
    for name, value in overrides(environment).items():
        assert name in parameters, f"[{environment}] {name} is not a template parameter"
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], f"[{environment}] {name}={value}"
        if "AllowedPattern" in spec:
            # CloudFormation matches the whole value against the pattern
            assert re.fullmatch(spec["AllowedPattern"], value), f"[{environment}] {name}={value}"
