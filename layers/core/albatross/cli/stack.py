"""How the CLI finds a deployed stack, and how it says what went wrong.

Every command that reads AWS takes the same three options: ``--stack-name`` (default:
``samconfig.toml``'s), ``--outputs FILE`` (the outputs as JSON, which ``albatross local
up`` writes; ``ALBATROSS_OUTPUTS`` in its env file, used only when neither option is
given) and ``--endpoint-url``. Failures leave as :class:`CliError`, one line that says
what to do next.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from botocore.exceptions import BotoCoreError, EndpointConnectionError, NoCredentialsError, NoRegionError

from albatross.aws import clients
from albatross.aws.errors import AlbatrossError, aws_errors

OUTPUTS_ENV = "ALBATROSS_OUTPUTS"


class CliError(Exception):
    """A failure the user can act on; the message says how (exit status 1)."""


class UsageError(CliError):
    """A value on the command line the command cannot use (``--since yesterday``, an
    Ingress not named NAMESPACE/NAME): exit status 2, as argparse's own usage errors."""


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-name", help="the deployed stack (default: samconfig.toml's)")
    parser.add_argument(
        "--outputs",
        type=Path,
        help=f"the stack's outputs as JSON instead (albatross local up writes one; default ${OUTPUTS_ENV}"
        " unless --stack-name is given)",
    )
    parser.add_argument("--endpoint-url", help="an AWS endpoint instead of AWS's (moto, say)")


def named(args: argparse.Namespace) -> bool:
    """Whether the command line or the environment names a stack (not samconfig.toml's default)."""
    return bool(args.stack_name or args.outputs or os.environ.get(OUTPUTS_ENV))


def default_stack_name(root: Path) -> str:
    path = root / "samconfig.toml"
    if not path.exists():
        raise CliError("no --stack-name and no samconfig.toml here: pass --stack-name (or --outputs FILE)")
    config = tomllib.loads(path.read_text()).get("default", {})
    for section in ("deploy", "global"):  # sam reads deploy's first, then global's
        name = config.get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    raise CliError(f"{path} names no stack_name: pass --stack-name")


def stack_outputs(stack_name: str) -> dict[str, str]:
    try:
        with aws_errors():
            stacks = clients.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except AlbatrossError as e:
        if "does not exist" in str(e):
            region = clients.client("cloudformation").meta.region_name
            raise CliError(
                f"stack {stack_name} not found in {region}: pass --stack-name or deploy with sam deploy"
            ) from e
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def outputs(args: argparse.Namespace) -> dict[str, str]:
    """The stack's outputs, from ``--outputs`` or CloudFormation (``--stack-name``); with
    neither, from ``$ALBATROSS_OUTPUTS`` or samconfig.toml's stack. A stack named on the
    command line wins over the environment (a sourced ``albatross local up`` env file)."""
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
        clients.reset()
    path = args.outputs or (None if args.stack_name else os.environ.get(OUTPUTS_ENV) or None)
    if path:
        try:
            return {str(k): str(v) for k, v in json.loads(Path(path).read_text()).items()}
        except OSError as e:
            raise CliError(f"cannot read {path}: {e.strerror}; is albatross local up running?") from e
        except ValueError as e:
            raise CliError(f"{path} is not a JSON object of stack outputs: {e}") from e
    return stack_outputs(args.stack_name or default_stack_name(Path.cwd()))


def require(found: Mapping[str, str], *keys: str) -> None:
    missing = [k for k in keys if k not in found]
    if missing:
        raise CliError(f"the stack has no output {missing[0]}: update it with sam deploy")


def explain(error: Exception) -> str:
    """One line for an error of the SDK's own (no AWS answer at all)."""
    if isinstance(error, EndpointConnectionError):
        return (
            f"cannot reach {error.kwargs.get('endpoint_url', 'the AWS endpoint')}: "
            "check --endpoint-url (albatross local up writes it to its env file) or your network"
        )
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE, or run aws configure (or aws sso login)"
    if isinstance(error, NoRegionError):
        return "no AWS region: set AWS_REGION (or a region in your AWS_PROFILE)"
    if isinstance(error, BotoCoreError):
        return f"the AWS SDK failed: {error}"
    return str(error)


ERRORS = (CliError, AlbatrossError, BotoCoreError, OSError, ValueError)
