"""``albatross``: ``local demo``, ``plan`` (offline or live), ``status`` and ``redrive``;
``logs`` and ``replay`` arrive with the operability issue."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "template.yaml").exists():
            return folder
    raise SystemExit("albatross: template.yaml not found here or above; run from the repository")


def _outputs(args: argparse.Namespace) -> dict[str, str]:
    """The stack's outputs: from ``--outputs`` or CloudFormation (``--stack-name``)."""
    from albatross.cli import redrive

    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if args.outputs:
        return dict(json.loads(args.outputs.read_text()))
    return redrive.stack_outputs(args.stack_name or redrive.default_stack_name(Path.cwd()))


def _status(args: argparse.Namespace) -> int:
    from albatross.aws.errors import AlbatrossError
    from albatross.cli import redrive, status

    try:
        groups = status.status(outputs=_outputs(args), group=args.group, ingress=args.ingress)
    except (redrive.RedriveError, AlbatrossError, OSError, ValueError, KeyError) as e:
        print(f"albatross status: {e}", file=sys.stderr)
        return 2
    print(status.as_json(groups) if args.output == "json" else status.table(groups))
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from albatross.aws.errors import AlbatrossError
    from albatross.cli import redrive

    queues = list(redrive.DLQS) if args.queue == "all" else [args.queue]
    try:
        outputs = _outputs(args)
        moved = redrive.redrive(outputs, queues=queues, dry_run=args.dry_run)
    except (redrive.RedriveError, AlbatrossError, OSError, ValueError) as e:
        print(f"albatross redrive: {e}", file=sys.stderr)
        return 2
    print(redrive.table(moved, dry_run=args.dry_run))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="albatross", description="Serverless ALB Ingress controller")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="run the whole system offline (moto + a Kubernetes API double)")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    demo = local_sub.add_parser("demo", help="the 2048 example end to end: create, show, delete")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step")
    plan = sub.add_parser("plan", help="show what the controller would build")
    plan.add_argument("--offline", action="store_true", help="from files only (no AWS, no cluster): the desired stacks")
    plan.add_argument("--endpoint-url", help="an AWS endpoint to read from instead of AWS's (moto, say)")
    plan.add_argument("-f", "--filename", dest="files", action="append", type=Path, required=True)
    plan.add_argument("--config", type=Path, help="controller settings (YAML)")
    plan.add_argument("--discovery", type=Path, help="AWS facts: subnets, certificates, ... (JSON)")
    plan.add_argument("--output", choices=("json", "table"), default="table")
    redrive_cmd = sub.add_parser("redrive", help="show and send back what waits in the dead-letter queues")
    redrive_cmd.add_argument("--queue", choices=("ingest", "work", "targets", "writeback", "all"), default="all")
    redrive_cmd.add_argument("--dry-run", action="store_true", help="list only; nothing is sent or deleted")
    status_cmd = sub.add_parser("status", help="each IngressGroup: its ALB, listeners, rules, targets, last reconcile")
    status_cmd.add_argument("ingress", nargs="?", help="namespace/name of an Ingress (its group is shown)")
    status_cmd.add_argument("--group", help="one IngressGroup")
    status_cmd.add_argument("--all", action="store_true", help="every IngressGroup (the default)")
    status_cmd.add_argument("--output", choices=("json", "table"), default="table")
    for command in (redrive_cmd, status_cmd):
        command.add_argument("--stack-name", help="the deployed stack (default: samconfig.toml's)")
        command.add_argument("--outputs", type=Path, help="the stack's outputs as JSON instead (albatross local)")
        command.add_argument("--endpoint-url", help="an AWS endpoint instead of AWS's (moto, say)")
    args = parser.parse_args(argv)
    if args.command == "redrive":
        return _redrive(args)
    if args.command == "status":
        return _status(args)
    if args.command == "plan":
        from albatross.cli.plan import run, run_live

        if args.offline:
            status, text = run(
                files=args.files, config_path=args.config, discovery_path=args.discovery, output=args.output
            )
        else:
            if args.endpoint_url:
                os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
            status, text = run_live(files=args.files, config_path=args.config, output=args.output)
        print(text, file=sys.stderr if status else sys.stdout)
        return status
    if args.command == "local" and args.local_command == "demo":
        from albatross.local.demo import run_demo

        try:
            result = run_demo(_root(Path.cwd()), timeout=args.timeout)
        except TimeoutError as e:
            print(f"albatross: {e}", file=sys.stderr)
            return 1
        return 0 if result["recheck_mutating"] == 0 and not result["left"] else 1
    parser.error("unknown command")


if __name__ == "__main__":
    sys.exit(main())
