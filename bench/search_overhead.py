"""What a search costs beyond training: Ray, Optuna, cost counting, storage and scheduling.

1. A real sr_tiny search of N trials: its wall time against the time its trials spent in the trainer (training
   and validation). overhead = 1 - Σ trainer time / (parallel trial slots × wall). Ray's start-up is timed
   apart (it is paid once per command, not per trial). Target: at most 5 %.
2. Searches of 100 and 1,000 trials with a trivial trainer (returns at once): wall time per trial, which is
   then all overhead. Target: per-trial time at 1,000 trials at most 2× that at 100.

Usage: python3 bench/search_overhead.py [--trials 48] [--small 100] [--large 1000]
       (prints a table, writes bench/search_overhead.json)
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import tempfile
import time
import zlib
from pathlib import Path

import ray
import torch

from nas import study as studies
from nas.core import training
from nas.search import run, worker
from nas.search.run import RunSettings
from nas.study.folder import StudyFolder
from nas.study.records import Outcome, counted

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "search_spaces" / "sr_tiny.yaml"


def trivial_trainer(
    genotype, budget, sources, seed, device=None, threads=None, measure_untrained=True
) -> training.TrainResult:
    """A stand-in trainer that returns at once with a PSNR derived from the genotype id."""
    psnr = 30.0 + zlib.crc32(f"{genotype}/{seed}".encode()) % 1000 / 100
    return training.TrainResult(
        psnr=psnr, ssim=0.9, psnr_untrained=None, train_seconds=0.0, patches_per_second=0.0, final_loss=0.0,
        loss_curve=[0.0], device=device or "cpu", precision="fp32", initial_weights="given",
    )  # fmt: skip


def timed_search(trials: int, trainer: worker.Trainer | None = None) -> tuple[float, list]:
    """Wall seconds of a fresh search of ``trials`` trials, and its finished trials."""
    with tempfile.TemporaryDirectory() as results:
        started = time.perf_counter()
        kwargs = {"trainer": trainer} if trainer else {}
        run.search(SPACE, RunSettings(trials=trials, results=Path(results)), stream=io.StringIO(), **kwargs)
        wall = time.perf_counter() - started
        finished = [t for t in studies.load_study(StudyFolder(Path(results) / "sr_tiny")).trials if counted(t)]
    return wall, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48, help="trials of the real sr_tiny search (its default)")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=1000)
    args = parser.parse_args()

    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    ray_start = time.perf_counter() - started
    slots = int(ray.cluster_resources()["CPU"])

    wall, finished = timed_search(args.trials)
    trainer_seconds = sum(t.user_attrs.get("trainer_seconds") or 0.0 for t in finished)
    real = {
        "trials": len(finished), "trained": sum(t.user_attrs["outcome"] == Outcome.TRAINED for t in finished),
        "slots": slots, "wall_s": wall, "trainer_s": trainer_seconds,
        "overhead": 1 - trainer_seconds / (slots * wall), "ray_start_s": ray_start,
    }  # fmt: skip
    scaling = []
    for trials in (args.small, args.large):
        trivial_wall, trivial_finished = timed_search(trials, trivial_trainer)
        scaling.append({"trials": len(trivial_finished), "wall_s": trivial_wall, "per_trial_s": trivial_wall / trials})

    print(f"{platform.processor() or platform.machine()}, {slots} trial slots, torch {torch.__version__}")
    print(f"Ray start-up {ray_start:.1f} s (once per command)")
    print(f"{'search':<28} {'trials':>6} {'wall s':>8} {'trainer s':>10} {'overhead':>9}")
    print(
        f"{'sr_tiny, real training':<28} {real['trials']:>6} {wall:8.1f} {trainer_seconds:10.1f} "
        f"{real['overhead']:8.1%}"
    )
    print(f"{'search':<28} {'trials':>6} {'wall s':>8} {'s/trial':>10}")
    for row in scaling:
        print(f"{'sr_tiny, trivial trainer':<28} {row['trials']:>6} {row['wall_s']:8.1f} {row['per_trial_s']:10.3f}")
    ratio = scaling[1]["per_trial_s"] / scaling[0]["per_trial_s"]
    print(f"per-trial time at {args.large} / at {args.small}: {ratio:.2f}×")
    record = {
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__, "real": real,
        "trivial": scaling, "per_trial_ratio": ratio,
    }  # fmt: skip
    Path(__file__).with_name("search_overhead.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
