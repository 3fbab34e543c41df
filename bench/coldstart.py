"""Cold start and size of the built artifact (``make package``).

    python -m bench.coldstart [--build .aws-sam/build] [--runs 5]

prints the table and sets the "coldstart" entry of bench/results.json.

For each function of the build, ``--runs`` fresh processes of the build's Python
(``-I -S``: no site packages, as on Lambda), whose ``sys.path`` holds only the function's
folder and the layer, each importing the handler module; and as many importing ``boto3``
alone from the same layer, interleaved with them, so that both see the same machine.
Per function: the median time of the import inside the process (``import_ms``) and of the
whole process, interpreter start included (``process_ms``), and both as a ratio to
``boto3``'s. The layer's size unzipped and zipped as ``sam package`` zips it (deflate).

``--extra-path`` appends folders to ``sys.path`` after the layer: the way to measure a
layer that leaves boto3 to the Lambda runtime (``/var/runtime``), as the first one did.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import results

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys, time
sys.path[:0] = {path!r}
started = time.perf_counter()
import {module}
print((time.perf_counter() - started) * 1000)
"""


def _once(python: str, path: list[str], module: str) -> tuple[float, float]:
    started = time.perf_counter()
    out = subprocess.run(  # noqa: S603  # the build's interpreter, our probe
        [python, "-I", "-S", "-c", PROBE.format(path=path, module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip()), (time.perf_counter() - started) * 1000


def functions(build: Path) -> list[str]:
    return sorted(p.parent.name for p in build.glob("*/app.py"))


def layer_size(build: Path) -> tuple[int, int]:
    """Bytes unzipped, and zipped with deflate as ``sam package`` zips a folder."""
    folder = build / "CoreLayer"
    raw, buffer = 0, io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                raw += path.stat().st_size
                zipped.write(path, path.relative_to(folder).as_posix())
    return raw, len(buffer.getvalue())


def run(build: Path, *, runs: int = 5, extra_path: list[str] | None = None) -> dict[str, Any]:
    manifest = json.loads((build / "albatross-build.json").read_text())
    python = str(manifest["interpreter"])
    layer = str((build / "CoreLayer" / "python").resolve())
    extra = [str(Path(p).resolve()) for p in extra_path or []]
    names = functions(build)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ["boto3", *names]}
    _once(python, [layer, *extra], "boto3")  # the first read of the files is not a cold start
    for _ in range(runs):
        samples["boto3"].append(_once(python, [layer, *extra], "boto3"))
        for name in names:
            samples[name].append(_once(python, [str((build / name).resolve()), layer, *extra], "app"))
    medians = {
        name: (statistics.median(s[0] for s in taken), statistics.median(s[1] for s in taken))
        for name, taken in samples.items()
    }
    base_import, base_process = medians["boto3"]
    rows = {
        name: {
            "import_ms": round(imp, 1),
            "process_ms": round(proc, 1),
            "import_ratio": round(imp / base_import, 2),
            "process_ratio": round(proc / base_process, 2),
        }
        for name, (imp, proc) in medians.items()
    }
    raw, zipped = layer_size(build)
    return {
        "python": manifest["python"],
        "arch": manifest["arch"],
        "runs": runs,
        "functions": rows,
        "layer_bytes": raw,
        "layer_zipped_bytes": zipped,
    }


def report(r: dict[str, Any]) -> None:
    print(f"Cold start: median of {r['runs']} fresh processes, Python {r['python']} ({r['arch']} build)")
    print(f"{'import of':<20}{'import ms':>11}{'/ boto3':>9}{'process ms':>12}{'/ boto3':>9}")
    for name, row in r["functions"].items():
        print(
            f"{name:<20}{row['import_ms']:>11.1f}{row['import_ratio']:>9.2f}"
            f"{row['process_ms']:>12.1f}{row['process_ratio']:>9.2f}"
        )
    print(f"layer: {r['layer_bytes'] / 1e6:.1f} MB unzipped, {r['layer_zipped_bytes'] / 1e6:.2f} MB zipped")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", type=Path, default=ROOT / ".aws-sam/build", help="a make package folder")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--extra-path", action="append", default=[], help="appended to sys.path after the layer")
    p.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = p.parse_args(argv)
    figures = run(args.build, runs=args.runs, extra_path=args.extra_path)
    report(figures)
    if not args.no_record:
        results.set_entry("coldstart", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
