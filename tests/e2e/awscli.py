"""A stand-in ``aws`` for the command lines docs show (the Makefile installs no AWS CLI).

It reads a line the way the AWS CLI does, for what docs use: ``aws <service>
<operation> [--<parameter> VALUE ...] [--query JMESPATH] [--output text|json]``. The
operation and parameter names are the service model's, spelled as the CLI spells them
(botocore's ``xform_name`` with dashes: ``modify-load-balancer-attributes``,
``--load-balancer-arn``); a parameter's value follows its shape: a string, a list of
strings (the tokens up to the next option), a list of structures in the CLI's shorthand
(``Key=a,Value=b``, one item a token), a blob from the file ``fileb://PATH`` names.
Anything else is refused, so a doc line the real CLI would not take fails here too. The
call goes through botocore (which validates it against the model) to
``AWS_ENDPOINT_URL``, the local cloud; its answer is printed as the CLI prints it
(``--query`` applied with JMESPath, ``--output text`` as tab-separated values). Each
call is recorded in ``$AWSCLI_LOG`` (service, operation, parameters, answer), one JSON
line each: the test hands the mutating ones to the local CloudTrail.

:func:`install` writes the executable into a folder to put first on PATH.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import botocore.session
import jmespath  # type: ignore[import-untyped]  # no stubs in requirements-dev.txt; botocore's own dependency
from botocore import xform_name

_SCRIPT = """#!{python}
# A stand-in aws for tests: tests/e2e/awscli.py says what it does.
import sys

sys.path.insert(0, {root!r})
from tests.e2e.awscli import main

sys.exit(main(sys.argv[1:]))
"""

ROOT = Path(__file__).resolve().parents[2]


def install(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "aws"
    path.write_text(_SCRIPT.format(python=sys.executable, root=str(ROOT)))
    path.chmod(0o755)
    return path


def _value(shape: Any, tokens: list[str], option: str) -> Any:
    if shape.type_name == "string":
        [token] = tokens or [""]
        if len(tokens) != 1:
            raise SystemExit(f"aws: {option} takes one value")
        return token
    if shape.type_name == "list" and shape.member.type_name == "string":
        return tokens
    if shape.type_name == "list" and shape.member.type_name == "structure":
        items = []
        for token in tokens:
            item: dict[str, str] = {}
            for pair in token.split(","):
                key, sep, value = pair.partition("=")
                if not sep or key not in shape.member.members:
                    raise SystemExit(f"aws: {option}: {pair!r} is not KEY=VALUE with a key of {shape.member.name}")
                item[key] = value
            items.append(item)
        return items
    if shape.type_name == "blob":
        # binary: the CLI reads it from the file ``fileb://PATH`` names (ACM's import-certificate)
        if len(tokens) != 1 or not tokens[0].startswith("fileb://"):
            raise SystemExit(f"aws: {option} takes fileb://PATH")
        return Path(tokens[0].removeprefix("fileb://")).read_bytes()
    raise SystemExit(f"aws: {option}: a {shape.type_name} parameter is beyond this stand-in")


def parse(argv: list[str]) -> tuple[str, str, dict[str, Any], str | None, str]:
    """(service, operation name, parameters, --query, --output) of a command line."""
    if len(argv) < 2:  # a service and an operation
        raise SystemExit("usage: aws <service> <operation> [options]")
    service, command, rest = argv[0], argv[1], argv[2:]
    session = botocore.session.get_session()
    if service not in session.get_available_services():
        raise SystemExit(f"aws: unknown service {service}")
    operations = session.get_service_model(service)
    names = {xform_name(name, "-"): name for name in operations.operation_names}
    if command not in names:
        raise SystemExit(f"aws {service}: unknown operation {command}")
    shape = operations.operation_model(names[command]).input_shape
    members = {xform_name(name, "-"): name for name in (shape.members if shape else {})}
    params: dict[str, Any] = {}
    query: str | None = None
    output = "json"
    i = 0
    while i < len(rest):
        option = rest[i]
        if not option.startswith("--"):
            raise SystemExit(f"aws: unexpected {option!r}")
        j = i + 1
        while j < len(rest) and not rest[j].startswith("--"):
            j += 1
        tokens = rest[i + 1 : j]
        if option == "--query":
            [query] = tokens
        elif option == "--output":
            [output] = tokens
        elif shape is not None and option[2:] in members:
            name = members[option[2:]]
            params[name] = _value(shape.members[name], tokens, option)
        else:
            raise SystemExit(f"aws {service} {command}: unknown option {option}")
        i = j
    return service, names[command], params, query, output


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return "\t".join(_text(v) for v in value.values())
    return "None" if value is None else str(value)


def main(argv: list[str]) -> int:
    service, operation, params, query, output = parse(argv)
    client = botocore.session.get_session().create_client(service)
    answer = getattr(client, xform_name(operation))(**params)
    answer.pop("ResponseMetadata", None)
    log = os.environ.get("AWSCLI_LOG")
    if log:
        with open(log, "a") as f:
            f.write(
                json.dumps(
                    {"service": service, "operation": operation, "params": params, "answer": answer}, default=str
                )
                + "\n"
            )
    shown = jmespath.search(query, answer) if query else answer
    if output == "text":
        print(_text(shown))
    elif shown not in (None, {}):
        print(json.dumps(shown, indent=4, default=str))
    return 0
