"""``albatross``: ``install`` and ``uninstall`` (the stack and the forwarder, in order),
``plan`` (offline or live), ``status``, ``logs``, ``redrive``, ``replay`` against a
deployed stack (or ``albatross local up``), and ``local`` (``demo``, ``up``, ``down``,
``apply``, ``scale``) to run the whole system offline.

Every failure is one line on stderr that says what to do next. Exit status (README.md,
"Exit status"): 0 done (``plan``: nothing failed); 1 an error (AWS refused, no such
stack, group or file, a plan with an Ingress that cannot be built or a step the
reconcile would refuse, a message ``redrive`` could not send back, a ``replay`` that did
not complete); 2 the command line is wrong. ``plan --detailed-exitcode`` answers
as ``terraform plan -detailed-exitcode`` does: 0 no changes, 1 an error (usage errors
included, so that 2 means one thing), 2 changes to make. A reader that goes away (``|
head``) ends the command quietly with 141, as SIGPIPE ends a Unix tool.

Each command imports what it needs when it runs: ``albatross local down`` or ``--help``
must not wait for moto."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def _root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "template.yaml").exists():
            return folder
    raise SystemExit("albatross: template.yaml not found here or above; run from the repository")


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _out(line: str) -> None:
    """A line on stdout, flushed: progress shows as it happens when stdout is a pipe too."""
    print(line, flush=True)


def _status(args: argparse.Namespace) -> int:
    from albatross.cli import stack, status

    status.check_ingress(args.ingress)  # the command line first: no AWS call for a wrong one
    outputs = stack.outputs(args)
    stack.require(outputs, "StateTableName", "ClusterName")
    groups = status.status(outputs=outputs, group=args.group, ingress=args.ingress)
    status.require_found(groups, group=args.group, ingress=args.ingress)
    print(status.as_json(groups) if args.output == "json" else status.table(groups))
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from albatross.cli import redrive, stack

    queues = list(redrive.DLQS) if args.queue == "all" else [args.queue]
    moved = redrive.redrive(stack.outputs(args), queues=queues, dry_run=args.dry_run, progress=_err)
    print(redrive.table(moved, dry_run=args.dry_run))
    return 1 if any(m.reason for m in moved) else 0


def _logs(args: argparse.Namespace) -> int:
    from albatross.cli import insights, logs, stack

    outputs = stack.outputs(args)
    since = logs.parse_since(args.since, time.time())
    if args.insights:
        group = logs.resolve(outputs, ingress=args.ingress, group=args.group)[0] if args.ingress or args.group else None
        found = insights.run(outputs, name=args.insights, group=group, since=since, progress=_err)
        print(insights.as_json(found) if args.output == "json" else insights.table(found))
        return 0
    group, members = logs.resolve(outputs, ingress=args.ingress, group=args.group)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if args.follow:
        _err(f"following IngressGroup {group}  ({', '.join(members) or 'no Ingress'}); Ctrl-C stops")
        try:
            for entry in logs.follow(outputs, group=group, since=since):
                shown = (
                    json.dumps(entry.to_json(), default=str) if args.output == "json" else logs.line(entry, color=color)
                )
                print(shown, flush=True)
        except KeyboardInterrupt:
            pass
        return 0
    entries = logs.history(outputs, group=group, since=since)
    if args.output == "json":
        print(logs.as_json(entries, group=group, members=members, since=since))
    else:
        print(logs.table(entries, group=group, members=members, since=since, color=color))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from albatross.cli import logs, replay, stack

    outputs = stack.outputs(args)
    now = time.time()
    start = logs.parse_since(args.start, now)
    end = int(now * 1000) if args.end == "now" else logs.parse_since(args.end, now)
    done = replay.replay(outputs, start=start, end=end, progress=_err)
    print(replay.summary(done))
    why = replay.failure(done)
    if why is not None:
        raise stack.CliError(why)  # exit 1, and on stderr why and what next
    return 0


def _local(args: argparse.Namespace) -> int:
    from albatross.cli.stack import CliError
    from albatross.local import up  # moto-free: up imports the system only when it starts one

    try:
        return _local_command(args)
    except up.LocalError as e:
        raise CliError(str(e)) from e


def _local_command(args: argparse.Namespace) -> int:
    from albatross.local import up

    folder = Path(args.dir)
    if args.local_command == "up":
        console = sys.stdout
        up.up(
            _root(Path.cwd()), folder, out=lambda text: print(text, file=console, flush=True), realistic=args.realistic
        )
        return 0
    if args.local_command == "down":
        pid = up.down(folder, out=_err)
        print(f"stopped albatross local up (pid {pid})")
        return 0
    base = up.running(folder).kube
    from albatross.local import manifests  # the API double's client: urllib and YAML, no moto

    if args.local_command == "apply":
        manifests.apply(base, manifests.documents(args.files), out=_out)  # a line per object as it is done
        return 0
    print(manifests.scale(base, args.deployment, args.replicas))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from albatross.local.demo import run_demo

    try:
        result = run_demo(_root(Path.cwd()), timeout=args.timeout)
    except TimeoutError as e:
        _err(f"albatross: {e}")
        return 1
    return 0 if result["recheck_mutating"] == 0 and not result["left"] else 1


def _plan(args: argparse.Namespace) -> int:
    from albatross.cli import plan
    from albatross.cli.stack import UsageError

    if args.offline:
        if args.detailed_exitcode:
            raise UsageError("--detailed-exitcode needs a live plan: an offline plan compares with nothing")
        if args.stack_name or args.outputs or args.endpoint_url:
            raise UsageError("--offline reads no stack: leave out --stack-name, --outputs and --endpoint-url")
        found = plan.offline(files=args.files, config_path=args.config, discovery_path=args.discovery)
    else:
        if args.discovery:
            raise UsageError("--discovery is for --offline: a live plan reads AWS's facts from AWS")
        found = plan.live(args, files=args.files, config_path=args.config, progress=_err)
    print(found.render(args.output))
    return found.exit_status(detailed=args.detailed_exitcode)


def _install(args: argparse.Namespace) -> int:
    from albatross.cli import install

    return install.install(args, root=_root(Path.cwd()), out=_out)


def _uninstall(args: argparse.Namespace) -> int:
    from albatross.cli import install

    return install.uninstall(args, root=_root(Path.cwd()), out=_out)


_FILES = "a manifest: multi-document YAML or JSON, List kinds too (repeat -f for more)"
_OUTPUT = "table for people (default), json for scripts"


def _parser() -> argparse.ArgumentParser:
    from albatross import __version__
    from albatross.cli import install, stack

    parser = argparse.ArgumentParser(
        prog="albatross",
        description="Serverless ALB Ingress controller",
        epilog="exit status: 0 done, 1 an error, 2 a wrong command line (README.md, Exit status)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="run the whole system offline (moto + a Kubernetes API double)")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    demo = local_sub.add_parser("demo", help="the 2048 example end to end: create, show, delete")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step")
    local_up = local_sub.add_parser("up", help="keep the offline system running for kubectl and the CLI")
    local_up.add_argument(
        "--realistic",
        action="store_true",
        help="AWS's API throttling, quotas and load balancer provisioning time (off: moto as it is)",
    )
    local_down = local_sub.add_parser("down", help="stop what albatross local up runs")
    local_apply = local_sub.add_parser("apply", help="create or update the objects of manifests in the local cluster")
    local_apply.add_argument("-f", "--filename", dest="files", action="append", type=Path, required=True, help=_FILES)
    local_scale = local_sub.add_parser("scale", help="set a Deployment's replicas in the local cluster")
    local_scale.add_argument("deployment", help="NAMESPACE/NAME (or NAME in default)")
    local_scale.add_argument("replicas", type=int, help="how many (0 or more)")
    for command in (local_up, local_down, local_apply, local_scale):
        command.add_argument("--dir", default=".albatross-local", help="the state directory (default: %(default)s)")
    plan = sub.add_parser(
        "plan",
        help="show what the controller would build (--offline) or change (live, against the stack's account)",
    )
    plan.add_argument("--offline", action="store_true", help="from files only (no AWS, no cluster): the desired stacks")
    plan.add_argument("-f", "--filename", dest="files", action="append", type=Path, required=True, help=_FILES)
    plan.add_argument(
        "--config",
        type=Path,
        help="controller settings (YAML, docs/model.md; examples/plan/config.yaml). Live: instead of the stack's"
        " (a cluster with no stack yet)",
    )
    plan.add_argument(
        "--discovery", type=Path, help="--offline: AWS facts, subnets, certificates ... (JSON; examples/plan/)"
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="live: exit 0 no changes, 1 an error, 2 changes to make (as terraform plan's)",
    )
    plan.add_argument("--output", choices=("json", "table"), default="table", help=_OUTPUT)
    redrive_cmd = sub.add_parser("redrive", help="show and send back what waits in the dead-letter queues")
    redrive_cmd.add_argument(
        "--queue",
        choices=("ingest", "work", "urgent", "targets", "writeback", "all"),
        default="all",
        help="one dead-letter queue (default: all of them)",
    )
    redrive_cmd.add_argument("--dry-run", action="store_true", help="list only; nothing is sent or deleted")
    status_cmd = sub.add_parser("status", help="each IngressGroup: its ALB, listeners, rules, targets, last reconcile")
    status_cmd.add_argument("ingress", nargs="?", help="namespace/name of an Ingress (its group is shown)")
    status_cmd.add_argument("--group", help="one IngressGroup")
    status_cmd.add_argument("--all", action="store_true", help="every IngressGroup (the default)")
    status_cmd.add_argument("--output", choices=("json", "table"), default="table", help=_OUTPUT)
    logs_cmd = sub.add_parser("logs", help="one IngressGroup's reconcile history from CloudWatch Logs")
    logs_cmd.add_argument("ingress", nargs="?", help="namespace/name of an Ingress (its group's history is shown)")
    logs_cmd.add_argument("--group", help="one IngressGroup")
    logs_cmd.add_argument("--since", default="1h", help="how far back: 30m, 1h, 2d or an ISO time (default 1h)")
    logs_cmd.add_argument(
        "--follow", action="store_true", help="keep printing new lines until Ctrl-C (JSON: one a line)"
    )
    logs_cmd.add_argument("--insights", metavar="NAME", help="run a saved Logs Insights query of the stack instead")
    logs_cmd.add_argument("--output", choices=("json", "table"), default="table", help=_OUTPUT)
    replay_cmd = sub.add_parser("replay", help="replay the event archive's events of a time window onto the bus")
    replay_cmd.add_argument("--from", dest="start", required=True, help="start: 2h (ago) or an ISO time")
    replay_cmd.add_argument("--to", dest="end", default="now", help="end: 1h (ago), an ISO time or now (default)")
    for command in (redrive_cmd, status_cmd, logs_cmd, replay_cmd, plan):
        stack.add_options(command)
    install.add_parsers(sub)
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": _status,
    "redrive": _redrive,
    "logs": _logs,
    "replay": _replay,
    "plan": _plan,
    "install": _install,
    "uninstall": _uninstall,
}


def _run(argv: Sequence[str] | None) -> int:
    from albatross.cli import stack

    given = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(given)
    except SystemExit as e:
        # under --detailed-exitcode 2 means "changes", so a usage error is an error there (1)
        if e.code == 2 and "--detailed-exitcode" in given:
            raise SystemExit(1) from None
        raise
    run = _COMMANDS[args.command] if args.command != "local" else _demo if args.local_command == "demo" else _local
    name = f"albatross {args.command}" + (f" {args.local_command}" if args.command == "local" else "")
    try:
        return run(args)
    except BrokenPipeError:
        raise  # an OSError, but no failure of the command's: main ends it quietly
    except stack.ERRORS as e:
        _err(f"{name}: {stack.explain(e)}")
        if isinstance(e, stack.UsageError):
            return 1 if getattr(args, "detailed_exitcode", False) else 2
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then the BrokenPipeError below
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as a tool that SIGPIPE ends does.
        # Python ignores SIGPIPE (so sockets raise, not kill); stdout is pointed at
        # /dev/null so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
