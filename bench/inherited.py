"""Inherited proxies on the released A2N ×2: the time of a run, the noise of a paired contrast, the time to settle one.

Every run fine-tunes a child of A2N (search_spaces/sr_light_inherited.yaml: its weights inherited where they fit,
the rest from (seed, module path)) and validates it on Set5 ×2, as a trial of that space does. Contrasts are
against A2N itself fine-tuned with the same seed:

- ``a2b removed at depth 1`` and ``at depth 14``: ``none`` in place of the A2N block (A2N's attention dropout,
  with recovery), at a shallow and a deep depth;
- ``pa in place of a2b at depth 8``: pixel attention swapped in (its attention fresh).

Beside them the same four genotypes trained from scratch (fresh weights from (seed, module path)) with the same
budget, which costs the same wall time: the from-scratch sr_light proxy at that time. Per contrast it prints the
effect, the sd of the paired difference over seeds, one arm's sd, their correlation, the seconds per run, the
seeds a paired t-test needs to detect 0.05 dB with 80 % power (α = 0.05, one contrast) and the minutes to settle it
on this machine (seeds × 2 runs × seconds per run ÷ runs at once). First, the seconds of one inherited run at
three budgets.

Runs go to the json file as they finish; a rerun skips those already there. Each run has one torch thread and two
run at once (the machine's two cores).

Usage: python3 bench/inherited.py [--seeds 6] [--workers 2]   (prints the tables, writes bench/inherited.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import numpy as np

from nas.core import genotypes, spaces, training
from nas.core.power import seeds_needed_or_none
from nas.trained import parents

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("inherited.json")
SPACE = ROOT / "search_spaces" / "sr_light_inherited.yaml"
REFERENCE = ("a2b",) * 16


def changed(depth: int, block: str) -> tuple[str, ...]:
    return tuple(block if d == depth else b for d, b in enumerate(REFERENCE))


CONTRASTS = {
    "a2b removed at depth 1": changed(1, "none"),
    "a2b removed at depth 14": changed(14, "none"),
    "pa in place of a2b at depth 8": changed(8, "pa"),
}
TIMED_BUDGETS = (100, 150, 300)  # iterations of the space's batch and patch size, timed once each
STARTS = ("inherited", "from scratch")
MARGIN_DB = 0.05


def run_key(start: str, iterations: int, placement: tuple[str, ...], seed: int) -> str:
    return f"{start} | {iterations} it | {genotypes.Genotype.create(2, 40, 24, list(placement))} | seed {seed}"


def train_one(task: dict) -> tuple[str, dict]:
    """One run (in a worker process): fine-tune (or train from scratch) and validate on the space's Set5."""
    space = spaces.load(SPACE)
    arch = genotypes.from_placement(space, list(task["placement"]))
    budget = replace(space.proxy, iterations=task["iterations"])
    parent = parents.network(space)
    if task["start"] == "from scratch":
        budget, parent = replace(budget, init=None), None
    started = time.perf_counter()
    _, result = training.train_network(
        arch, budget, space.data, task["seed"], device="cpu", threads=1, measure_untrained=False, parent=parent
    )
    seconds = time.perf_counter() - started
    return task["key"], {"psnr": result.psnr, "train_seconds": result.train_seconds, "run_seconds": seconds,
                         "inherited_share": result.inherited_share}  # fmt: skip


def tasks(seeds: int, iterations: int) -> list[dict]:
    planned = {}
    for budget in TIMED_BUDGETS:
        key = run_key("inherited", budget, REFERENCE, 0)
        planned[key] = {"key": key, "start": "inherited", "iterations": budget, "placement": REFERENCE, "seed": 0}
    for start in STARTS:
        for placement in (REFERENCE, *CONTRASTS.values()):
            for seed in range(seeds):
                key = run_key(start, iterations, placement, seed)
                planned[key] = {"key": key, "start": start, "iterations": iterations, "placement": placement,
                                "seed": seed}  # fmt: skip
    return list(planned.values())


def contrast_row(runs: dict, start: str, iterations: int, label: str, seeds: int, parallel: int) -> dict:
    pairs = [(run_key(start, iterations, CONTRASTS[label], s), run_key(start, iterations, REFERENCE, s))
             for s in range(seeds)]  # fmt: skip
    arm = np.array([runs[a]["psnr"] for a, _ in pairs])
    reference = np.array([runs[r]["psnr"] for _, r in pairs])
    difference_sd = float(np.std(arm - reference, ddof=1))
    seconds = statistics.median(runs[k]["run_seconds"] for pair in pairs for k in pair)
    needed = seeds_needed_or_none(difference_sd, MARGIN_DB, contrasts=1)
    return {
        "start": start, "iterations": iterations, "contrast": label, "seeds": seeds,
        "effect_db": float(np.mean(arm - reference)), "difference_sd_db": difference_sd,
        "arm_sd_db": float(np.sqrt((arm.var(ddof=1) + reference.var(ddof=1)) / 2)),
        "reference_psnr_db": float(reference.mean()),
        "intra_seed_correlation": float(np.corrcoef(arm, reference)[0, 1]), "seconds_per_run": seconds,
        "seeds_for_margin": needed,
        "minutes_to_settle": None if needed is None else needed * 2 * seconds / parallel / 60,
    }  # fmt: skip


def print_tables(summary: dict) -> None:
    print("\n| iterations | seconds per inherited run (fine-tune + Set5 validation) | PSNR dB |")
    print("|---:|---:|---:|")
    for row in summary["budgets"]:
        print(f"| {row['iterations']} | {row['run_seconds']:.0f} | {row['psnr']:.3f} |")
    print("\n| start | contrast | effect dB | sd of difference dB | sd of one arm dB | correlation | s/run | "
          "seeds for 0.05 dB | minutes to settle |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in summary["contrasts"]:
        seeds = "—" if row["seeds_for_margin"] is None else str(row["seeds_for_margin"])
        minutes = "—" if row["minutes_to_settle"] is None else f"{row['minutes_to_settle']:.0f}"
        print(f"| {row['start']} | {row['contrast']} | {row['effect_db']:+.3f} | {row['difference_sd_db']:.3f} | "
              f"{row['arm_sd_db']:.3f} | {row['intra_seed_correlation']:.2f} | {row['seconds_per_run']:.0f} | "
              f"{seeds} | {minutes} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    iterations = spaces.load(SPACE).proxy.iterations
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    runs: dict = record.get("runs", {})
    todo = [task for task in tasks(args.seeds, iterations) if task["key"] not in runs]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        for done in as_completed([pool.submit(train_one, task) for task in todo]):
            key, run = done.result()
            runs[key] = run
            RECORD.write_text(json.dumps({**record, "runs": runs}, indent=2) + "\n")
            print(f"{len(runs)} runs: {key}: {run['psnr']:.3f} dB in {run['run_seconds']:.0f} s", flush=True)
    rows = [contrast_row(runs, start, iterations, c, args.seeds, args.workers) for start in STARTS for c in CONTRASTS]
    summary = {
        "budgets": [{"iterations": b, **runs[run_key("inherited", b, REFERENCE, 0)]} for b in TIMED_BUDGETS],
        "contrasts": rows,
    }
    machine = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "workers": args.workers,
        "load_average_at_end": os.getloadavg()[0], "wall_seconds_this_run": time.perf_counter() - started,
    }  # fmt: skip
    RECORD.write_text(json.dumps({**record, **machine, "runs": runs, "summary": summary}, indent=2) + "\n")
    print_tables(summary)


if __name__ == "__main__":
    main()
