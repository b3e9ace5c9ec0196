"""Learning curves of the shipped from-scratch spaces: when do their proxies learn, and when do effects settle?

For sr_tiny and sr_light_scratch, each arm below is trained from scratch with ``nas train`` for a long run
(``--budgets``: validated along the run, the schedule shaped to the run's end), 4 seeds, one thread:

- uniform placements of none, pa, a2b and ca (each at every depth the space allows it);
- one alone-at-a-group arm of each attention block: the block at depths 2-3 only, none elsewhere.

Per reading it tabulates each arm's gain over bicubic upsampling of the validation images (mean and worst seed),
each arm's paired effect against uniform none (mean and sd over seeds of the per-seed difference) and the seconds
per run. A reading along a long run is not a training of that length (its learning rate has not decayed): the
script also trains none and pa of sr_tiny for plain shorter budgets and prints how far those end from the reading
at the same iteration of the long run.

Every run is appended to ``bench/learning_curve.jsonl`` when it ends and skipped when the script runs again; a run
cut short continues from its resumable state (``nas train --resume``), so the script may be stopped and restarted
at any time. The table is printed and written to ``bench/learning_curve.json``, the curves drawn in
``bench/learning_curve.png`` (gain over bicubic against iterations, the floor and the minimum gain as lines).

Usage: python3 bench/learning_curve.py [--spaces sr_tiny sr_light_scratch] [--iterations 10000] [--workers 1]
       [--table-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nas.core import genotypes, spaces
from nas.core.settings import DEFAULT_MIN_GAIN_DB

ROOT = Path(__file__).resolve().parents[1]
RUNS = Path(__file__).with_name("learning_curve.jsonl")
TABLE = Path(__file__).with_name("learning_curve.json")
FIGURE = Path(__file__).with_name("learning_curve.png")
WORK = Path(__file__).with_name(".learning_curve")  # checkpoints and resumable states of runs (not committed)
SEEDS = (0, 1, 2, 3)
UNIFORM = ("none", "pa", "a2b", "ca")
ALONE_AT = (2, 3)  # the depths of each block's alone-at-a-group arm
READINGS = (300, 600, 1000, 1500, 2000, 3000, 5000, 7000, 10_000)
PLAIN = ("sr_tiny", ("none", "pa"), (1000, 3000), (0, 1))  # space, arms, budgets, seeds of the plain trainings


@dataclass(frozen=True)
class Run:
    space: str
    arm: str
    genotype: str
    seed: int
    iterations: int
    budgets: tuple[int, ...]  # the readings along the run (the last is ``iterations``)

    @property
    def key(self) -> str:
        kind = "curve" if len(self.budgets) > 1 else "plain"
        return f"{self.space}.{self.arm.replace(' ', '_')}.s{self.seed}.{kind}{self.iterations}"


def arms(space: spaces.SearchSpace) -> dict[str, str]:
    """Each arm's label and genotype id: the uniform placements, then each block alone at ``ALONE_AT``."""
    labelled = {f"uniform {block}": str(genotypes.uniform(space, block)) for block in UNIFORM}
    for block in UNIFORM[1:]:
        placement = [block if depth in ALONE_AT else "none" for depth in range(space.depth)]
        labelled[f"{block} only {ALONE_AT[0]}-{ALONE_AT[-1]}"] = str(genotypes.from_placement(space, placement))
    return labelled


def planned_runs(names: list[str], iterations: int) -> list[Run]:
    """Space by space, seed by seed (so paired effects exist early), every arm; the plain trainings after the long
    runs of their space."""
    readings = tuple(reading for reading in READINGS if reading < iterations) + (iterations,)
    runs = []
    for name in names:
        labelled = arms(spaces.load(ROOT / "search_spaces" / f"{name}.yaml"))
        runs += [
            Run(name, arm, genotype, seed, iterations, readings) for seed in SEEDS for arm, genotype in labelled.items()
        ]
        space_name, plain_arms, budgets, seeds = PLAIN
        if name == space_name:
            runs += [
                Run(name, f"uniform {block}", labelled[f"uniform {block}"], seed, budget, (budget,))
                for budget in budgets
                for seed in seeds
                for block in plain_arms
            ]
    return runs


def done_runs() -> dict[str, dict]:
    if not RUNS.exists():
        return {}
    return {record["key"]: record for record in map(json.loads, RUNS.read_text().splitlines())}


def train(run: Run) -> dict:
    """One ``nas train`` of ``run`` on one thread, continued from its resumable state where one was left."""
    WORK.mkdir(exist_ok=True)
    save = WORK / f"{run.key}.pt"
    command = [
        sys.executable, "-m", "nas", "train", "--space", str(ROOT / "search_spaces" / f"{run.space}.yaml"),
        "--genotype", run.genotype, "--seed", str(run.seed), "--iterations", str(run.iterations),
        "--budgets", ",".join(map(str, run.budgets)), "--save", str(save), "--json",
    ]  # fmt: skip
    if Path(f"{save}.resume").exists():
        command.append("--resume")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
    if finished.returncode != 0:
        raise RuntimeError(f"{run.key}: nas train exited {finished.returncode}: {finished.stderr[-2000:]}")
    result = json.loads(finished.stdout)
    save.unlink(missing_ok=True)  # the numbers are kept, the network is not needed
    record = {"key": run.key, **vars(run), "budgets": list(run.budgets)}
    keep = ("psnr", "psnr_bicubic", "gain_db", "train_seconds", "readings", "device", "precision")
    return {**record, **{name: result[name] for name in keep}}


def run_all(runs: list[Run], workers: int) -> None:
    done = done_runs()
    todo = [run for run in runs if run.key not in done]
    print(f"{len(runs) - len(todo)} of {len(runs)} runs done before; {len(todo)} to train", file=sys.stderr)
    with ThreadPoolExecutor(workers) as pool:
        for record in pool.map(train, todo):
            with open(RUNS, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(f"{record['key']}: {record['psnr']:.3f} dB, gain {record['gain_db']:+.3f} dB, "
                  f"{record['train_seconds']:.0f} s", file=sys.stderr, flush=True)  # fmt: skip


def readings_frame(records: list[dict]) -> pd.DataFrame:
    """One row per reading of every run: its space, arm, seed, kind (``curve…``/``plain…``), PSNR and gain."""
    rows = []
    for record in records:
        run = {key: record[key] for key in ("space", "arm", "seed")} | {"kind": record["key"].split(".")[-1]}
        for reading in record["readings"]:
            gain = reading["psnr"] - record["psnr_bicubic"]
            rows.append({**run, **reading, "gain": gain})
    return pd.DataFrame(rows)


def curve_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per space, reading and arm: gain over bicubic (mean, worst seed) and the paired effect against uniform none."""
    curves = frame[frame["kind"].str.startswith("curve")]
    none = curves[curves["arm"] == "uniform none"].set_index(["space", "seed", "iterations"])["psnr"]
    rows = []
    for (space, iterations, arm), group in curves.groupby(["space", "iterations", "arm"]):
        paired = group.set_index(["space", "seed", "iterations"])["psnr"] - none
        paired = paired.dropna()
        rows.append({
            "space": space, "iterations": iterations, "arm": arm, "seeds": len(group),
            "gain_mean": group["gain"].mean(), "gain_worst": group["gain"].min(),
            "effect_vs_none": paired.mean() if arm != "uniform none" else None,
            "paired_sd": paired.std() if arm != "uniform none" and len(paired) > 1 else None,
            "one_arm_sd": group["psnr"].std() if len(group) > 1 else None,
            "seconds": group["seconds"].median(),  # a run paused by other work would skew a mean
        })  # fmt: skip
    return pd.DataFrame(rows)


def schedule_gap(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain trainings of b iterations against the reading at b along the long run: same arm and seed."""
    plain = frame[frame["kind"].str.startswith("plain")]
    curves = frame[frame["kind"].str.startswith("curve")].set_index(["space", "arm", "seed", "iterations"])["psnr"]
    rows = []
    for _, row in plain.iterrows():
        key = (row["space"], row["arm"], row["seed"], row["iterations"])
        if key in curves.index:
            along = curves[key]
            rows.append({**row[["space", "arm", "seed", "iterations"]].to_dict(), "plain": row["psnr"],
                         "along_run": along, "plain_minus_along": row["psnr"] - along})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", nargs="+", default=["sr_tiny", "sr_light_scratch"])
    parser.add_argument("--iterations", type=int, default=READINGS[-1])
    parser.add_argument("--workers", type=int, default=1, help="runs at once, one thread each")
    parser.add_argument("--table-only", action="store_true", help="tabulate the runs done, train none")
    parser.add_argument("--min-gain-db", type=float, default=DEFAULT_MIN_GAIN_DB, help="the line drawn in the figure")
    args = parser.parse_args()
    if not args.table_only:
        run_all(planned_runs(args.spaces, args.iterations), args.workers)
    frame = readings_frame(list(done_runs().values()))
    if frame.empty:
        sys.exit("no runs yet")
    table, gap = curve_table(frame), schedule_gap(frame)
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        if not gap.empty:
            print("\nplain training of b iterations minus the reading at b along the long run (dB):")
            print(gap.to_string(index=False))
    TABLE.write_text(json.dumps({"curves": table.to_dict("records"), "schedule_gap": gap.to_dict("records")},
                                indent=1, default=float) + "\n")  # fmt: skip
    draw(table, args.min_gain_db)


def draw(table: pd.DataFrame, min_gain_db: float) -> None:
    """Gain over bicubic against iterations, per space and arm (mean over seeds): the floor (0) and the minimum gain
    drawn as lines, so a budget where every arm has learned shows at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(table["space"].unique())
    figure, panels = plt.subplots(1, len(names), figsize=(6.0 * len(names), 4.0), squeeze=False, sharey=True)
    for axes, name in zip(panels[0], names, strict=True):
        for arm, rows in table[table["space"] == name].groupby("arm"):
            axes.plot(
                rows["iterations"], rows["gain_mean"], "o-", ms=3, lw=1, label=f"{arm} ({rows['seeds'].max()} seeds)"
            )
        axes.axhline(0.0, color="#555555", lw=0.8, label="bicubic upsampling")
        axes.axhline(min_gain_db, color="#555555", lw=0.8, ls="--", label=f"minimum gain, {min_gain_db:g} dB")
        axes.set_xscale("log")
        axes.set_xlabel("iterations (read along one run; cosine schedule shaped to the run's end)")
        axes.set_title(name, fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=6)
    panels[0][0].set_ylabel("gain over bicubic on the validation images (dB)")
    figure.tight_layout()
    figure.savefig(FIGURE, dpi=120)


if __name__ == "__main__":
    main()
