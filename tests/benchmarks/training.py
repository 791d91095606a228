"""Training rows: every system on every row, each in a fresh capped process (systems.py).

Results go into results.json after every system, so a crash or a cap late in a long run
keeps what came before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks import data

DEFAULT_SYSTEMS = ("head", "lora", "full", "lr", "setfit")  # `auto` is resolved, not re-run (see auto_choice)

# Wall-time caps per child process (seconds on 2 CPU cores), about twice the expected time on an
# idle machine. Tessera's expectations come from ml.estimates (10-shot lora ~2.5 min, full ~3 min;
# Banking77 full lora ~9 min, full ~13 min; FPB texts are ~2x longer than Banking77's). setfit
# runs 625 steps of 16 pairs on every row (systems.SETFIT_PAIR_BUDGET): 334-400 s on the Banking77
# rows and 554-556 s on the FPB rows in the run of 2026-11-29 (docs/benchmarks.md).
CAPS_SECONDS = {
    "banking77-10shot": {"head": 300, "lora": 600, "full": 900, "auto": 900, "lr": 300, "setfit": 1800},
    "banking77-full": {"head": 600, "lora": 1800, "full": 2400, "auto": 2400, "lr": 900, "setfit": 1800},
    "fpb-50agree": {"head": 300, "lora": 1500, "full": 2400, "auto": 2400, "lr": 600, "setfit": 1800},
    "fpb-allagree": {"head": 300, "lora": 900, "full": 1200, "auto": 1200, "lr": 300, "setfit": 1800},
}
SMOKE_CAP_SECONDS = 180


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " / ".join(line.strip()[:300] for line in text[-lines:])


def child_env(device: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # CPU numbers stay CPU numbers on a GPU machine
    return env


def run_child(module: str, arguments: list[str], *, out: Path, log: Path, cap: float, device: str) -> dict[str, Any]:
    """Run `python -m module arguments --out out`; its JSON, or {"error": ...} on a cap or a crash."""
    out.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        try:
            completed = subprocess.run(
                [sys.executable, "-m", module, *arguments, "--out", str(out)],
                cwd=data.ROOT,
                env=child_env(device),
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=cap,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"hit its {cap:.0f} s cap (log: {log.relative_to(data.ROOT)})", "process_seconds": cap}
    seconds = time.perf_counter() - started
    if completed.returncode != 0 or not out.exists():
        return {
            "error": f"exit {completed.returncode}: {_tail(log)} (log: {log.relative_to(data.ROOT)})",
            "process_seconds": seconds,
        }
    return {
        **json.loads(out.read_text()),
        "process_seconds": seconds,
        "measured_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }


def auto_choice(row: data.Row, device: str, *, smoke: bool) -> dict[str, str]:
    """What strategy="auto" picks for this row (no training: ml.estimates is arithmetic)."""
    from ml.estimates import choose_strategy

    train, _ = data.load_row(row, smoke=smoke)
    strategy, reason = choose_strategy(
        task="classification", n_examples=len(train), n_labels=len({label for _, label in train}), device=device
    )
    return {"strategy": strategy, "reason": reason}


def worst_case_seconds(rows: list[data.Row], system_names: list[str], devices: list[str], cap_scale: float) -> float:
    """The sum of the caps: `make bench` cannot take longer than this (plus process start-up)."""
    return sum(CAPS_SECONDS[row.group][system] * cap_scale for row in rows for system in system_names) * len(devices)


def run(
    results: dict[str, Any],
    *,
    rows: list[data.Row],
    system_names: list[str],
    devices: list[str],
    smoke: bool,
    cap_scale: float,
    workdir: Path,
    saved: Callable[[], None],
) -> None:
    training = results.setdefault("training", {})
    table = training.setdefault("rows", {})
    for device in devices:
        for row in rows:
            entry = table.setdefault(row.name, {})
            try:
                entry["auto_choice" if device == "cpu" else f"auto_choice@{device}"] = auto_choice(
                    row, device, smoke=smoke
                )
            except ImportError as error:  # ml.estimates not there: the row still runs
                entry["auto_choice"] = {"strategy": None, "reason": f"not resolved ({error})"}
            for system in system_names:
                key = system if device == "cpu" else f"{system}@{device}"
                cap = SMOKE_CAP_SECONDS if smoke else CAPS_SECONDS[row.group][system] * cap_scale
                print(f"[bench] training {row.name} {key} (cap {cap:.0f} s)", flush=True)  # noqa: T201
                arguments = ["--row", row.name, "--system", system, "--device", device]
                arguments += ["--workdir", str(workdir / "work" / f"{row.name}-{key}")] + (["--smoke"] if smoke else [])
                entry[key] = run_child(
                    "tests.benchmarks.systems",
                    arguments,
                    out=workdir / "out" / f"{row.name}-{key}.json",
                    log=workdir / "logs" / f"{row.name}-{key}.log",
                    cap=cap,
                    device=device,
                )
                print(f"[bench]   {summary(entry[key])}", flush=True)  # noqa: T201
                saved()


def summary(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    return (
        f"accuracy {result['accuracy']:.4f} macro-F1 {result['macro_f1']:.4f} train {result['train_seconds']:.1f} s "
        f"peak {result['peak_rss_bytes'] / 1e6:.0f} MB artifact {result['artifact_bytes'] / 1e6:.2f} MB "
        f"p50 {result['latency_p50_ms']:.1f} ms (process {result['process_seconds']:.0f} s)"
    )
