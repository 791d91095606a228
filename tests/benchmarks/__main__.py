"""`make bench`: the platform layers, metering, Tessera's training strategies and serving, each against peers.

    python -m tests.benchmarks                       # everything; writes docs/benchmarks.md
    python -m tests.benchmarks --smoke               # every code path on tiny subsets, a few minutes
    python -m tests.benchmarks --only metering       # one section (PostgreSQL and Redis, about 2 minutes)
    python -m tests.benchmarks --only sentiment      # scoring (PostgreSQL, Redis, a worker) and quality, ~7 min
    python -m tests.benchmarks --only training --rows banking77-10shot,fpb-50agree --systems head,lora,lr,setfit

Options can also come from the environment: BENCH_ONLY, BENCH_ROWS, BENCH_SYSTEMS, BENCH_DEVICES,
BENCH_CAP_SCALE, BENCH_SMOKE=1, BENCH_DATASETS_DIR (default ../shared/datasets).

Results accumulate in var/bench/results.json (each section keeps its last run), and
docs/benchmarks.md is rendered from that file after every measured system; a section the
file has no results for keeps its text from the page (report.merge), so a run of one
section on a fresh checkout does not wipe the others. --smoke writes to var/bench/smoke/
instead and never touches docs/.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from tests.benchmarks import data, report, serving, training
from tests.benchmarks.systems import SYSTEMS

SECTIONS = ("platform", "metering", "training", "serving", "sentiment")
# --smoke default: one Banking77 row and one FPB row cover both loaders and every system.
SMOKE_ROWS = "banking77-10shot-s0,fpb-50agree"
DOC = data.ROOT / "docs" / "benchmarks.md"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=os.environ.get("BENCH_ONLY", ""), help=f"sections, comma-separated: {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--rows",
        default=os.environ.get("BENCH_ROWS", ""),
        help=f"training rows or groups: {', '.join(data.GROUPS)} (or one seed, e.g. banking77-10shot-s1)",
    )
    parser.add_argument(
        "--systems",
        default=os.environ.get("BENCH_SYSTEMS", ""),
        help=f"of {', '.join(SYSTEMS)}; default {','.join(training.DEFAULT_SYSTEMS)} (auto is reported from "
        "ml.estimates without re-training; name it to train it too)",
    )
    parser.add_argument(
        "--devices",
        default=os.environ.get("BENCH_DEVICES", ""),
        help="training devices; default cpu, plus cuda when a GPU is there (serving is always measured on cpu)",
    )
    parser.add_argument(
        "--cap-scale",
        type=float,
        default=float(os.environ.get("BENCH_CAP_SCALE", "1")),
        help="multiply every per-system time cap (training.CAPS_SECONDS)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        default=os.environ.get("BENCH_SMOKE") == "1",
        help="tiny subsets, one epoch, 20 tenants: checks every code path; writes var/bench/smoke/ only",
    )
    parser.add_argument("--results", type=Path, default=None, help="default var/bench/results.json")
    return parser.parse_args(argv)


def _listed(value: str, allowed: tuple[str, ...] | list[str], default: tuple[str, ...] | list[str]) -> list[str]:
    chosen = [part.strip() for part in value.split(",") if part.strip()] or list(default)
    unknown = set(chosen) - set(allowed)
    if unknown:
        raise SystemExit(f"Unknown {', '.join(sorted(unknown))}; choose from {', '.join(allowed)}.")
    return chosen


def _devices(value: str) -> list[str]:
    if value:
        return _listed(value, ("cpu", "cuda"), ("cpu",))
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    # Smoke skips platform, metering and sentiment by default: they need PostgreSQL (and Redis).
    sections = _listed(arguments.only, SECTIONS, ("training", "serving") if arguments.smoke else SECTIONS)
    workdir = data.ROOT / "var" / "bench" / ("smoke" if arguments.smoke else "")
    results_path = arguments.results or workdir / "results.json"
    doc = workdir / "benchmarks.md" if arguments.smoke else DOC
    # The BENCH_* variables choose as much as the arguments do (`BENCH_ONLY=serving make bench`).
    settings = "".join(
        f"{name}={shlex.quote(value)} " for name, value in sorted(os.environ.items()) if name.startswith("BENCH_")
    )
    command = settings + "python -m tests.benchmarks" + "".join(f" {shlex.quote(part)}" for part in sys.argv[1:])
    # A smoke run starts empty: it checks the code paths, and leftovers would hide a broken one.
    results = {} if arguments.smoke else report.load(results_path)
    results["smoke"] = arguments.smoke

    def saved() -> None:
        report.save(results_path, results)
        # A smoke page starts empty for the same reason its results do.
        previous = doc.read_text() if doc.exists() and not arguments.smoke else ""
        doc.write_text(report.merge(previous, report.render(results)))

    started = time.perf_counter()
    # Before platform: platform_layers leaves the default connection on its (dropped)
    # database as the app role, and metering creates its own database as the admin.
    if "metering" in sections:
        from tests.benchmarks import metering  # Django, PostgreSQL and Redis only when asked for

        results["metering"] = {
            **metering.run(smoke=arguments.smoke),
            "run": report.run_info(command, smoke=arguments.smoke),
        }
        saved()
    # Also before platform, for the same reason: it creates its own database as the admin.
    if "sentiment" in sections:
        from tests.benchmarks import sentiment  # Django, PostgreSQL, Redis and a Celery worker only when asked for

        results["sentiment"] = {
            **sentiment.run(smoke=arguments.smoke, workdir=workdir),
            "run": report.run_info(command, smoke=arguments.smoke),
        }
        saved()
    if "platform" in sections:
        from tests.benchmarks import platform_layers  # Django and PostgreSQL only when asked for

        results["platform"] = {**platform_layers.run(), "run": report.run_info(command, smoke=arguments.smoke)}
        saved()
    if "training" in sections:
        rows = data.select_rows(arguments.rows or (SMOKE_ROWS if arguments.smoke else ""))
        system_names = _listed(arguments.systems, SYSTEMS, training.DEFAULT_SYSTEMS)
        devices = _devices(arguments.devices)
        if not arguments.smoke:
            bound = training.worst_case_seconds(rows, system_names, devices, arguments.cap_scale)
            print(  # noqa: T201
                f"[bench] training: {len(rows) * len(system_names) * len(devices)} runs on {', '.join(devices)}, "
                f"at most {bound / 3600:.1f} h (sum of caps)",
                flush=True,
            )
        results.setdefault("training", {})["run"] = report.run_info(command, smoke=arguments.smoke)
        training.run(
            results,
            rows=rows,
            system_names=system_names,
            devices=devices,
            smoke=arguments.smoke,
            cap_scale=arguments.cap_scale,
            workdir=workdir,
            saved=saved,
        )
    if "serving" in sections:
        results["serving"] = {"run": report.run_info(command, smoke=arguments.smoke)}
        serving.run(
            results["serving"], smoke=arguments.smoke, cap_scale=arguments.cap_scale, workdir=workdir, saved=saved
        )
    saved()
    print(doc.read_text())  # noqa: T201
    print(f"[bench] {time.perf_counter() - started:.0f} s; results in {results_path}, page in {doc}")  # noqa: T201


if __name__ == "__main__":
    main()
