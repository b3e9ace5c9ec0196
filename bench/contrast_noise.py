"""The noise of a paired contrast, under two ways of drawing initial weights, and the budget that settles one fastest.

A contrast is one genotype minus ``none`` everywhere, both trained with the same seed; its noise is the standard
deviation over seeds of that difference. For each of four contrasts on sr_tiny (a2b, pa, ca, lia against none, at
one depth or group) × 8 seeds this trains both arms under

- ``construction-order``: torch's global generator seeded once, weights drawn in construction order (the old
  scheme: every module after the first slot that differs starts elsewhere), and
- ``module-path``: each module's weights from (seed, module path) (``nas.core.initial_weights``, the harness's),

at sr_tiny's budget and two alternatives of about equal cost (larger patches, fewer iterations), and re-scores the
networks of sr_tiny's budget on more validation images (the built-in ones plus Set5 from ``../shared/reference``,
when present). Per contrast it prints the sd of the difference, the correlation of the two arms over seeds
(Pearson), |effect| / sd, the seconds per run, the seeds a paired t-test needs to detect 0.05 dB with 80 % power
(α = 0.05, one contrast), and the time to settle it on this machine (seeds × 2 runs × seconds per run ÷ runs at
once). Last, the variance components of one genotype: 4 init seeds × 4 data-order (patch-stream) seeds, crossed.

Runs go to the json file as they finish; a rerun skips the runs already there. Each run has one torch thread and
two run at once (the machine's two cores).

Usage: python3 bench/contrast_noise.py [--seeds 8] [--workers 2]
       (prints the tables, writes bench/contrast_noise.json)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
import torch
from statsmodels.stats.anova import anova_lm

from nas.core import genotypes, networks, spaces, training
from nas.core.genotypes import Genotype
from nas.core.power import seeds_needed_or_none
from nas.sr import data, evaluate

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("contrast_noise.json")
SPACE = ROOT / "search_spaces" / "sr_tiny.yaml"
SET5 = ROOT.parent / "shared" / "reference" / "set5" / "HR"
REFERENCE = ("none", "none", "none", "none")
CONTRASTS = {  # label: placement, each against REFERENCE
    "a2b at slot 2": ("none", "none", "a2b", "none"),
    "pa at slots 0-1": ("pa", "pa", "none", "none"),
    "ca at slot 1": ("none", "ca", "none", "none"),
    "lia at slot 3": ("none", "none", "none", "lia"),
}
BUDGETS = {  # label: (batch, LR patch side, iterations), about equal cost per run
    "8×24², 300 it": (8, 24, 300),
    "8×32², 220 it": (8, 32, 220),
    "8×48², 140 it": (8, 48, 140),
}
RESCORED_BUDGET = "8×24², 300 it"  # its networks are also scored on the built-in images plus Set5
INITS = ("construction-order", "module-path")
MARGIN_DB = 0.05
COMPONENT_GENOTYPE = "pa at slots 0-1"
COMPONENT_SEEDS = (0, 1, 2, 3)


def run_key(budget: str, init: str, placement: tuple[str, ...], init_seed: int, data_seed: int) -> str:
    return f"{budget} | {init} | {'-'.join(placement)} | init {init_seed} | data {data_seed}"


def initial_network(arch: Genotype, init: str, seed: int) -> torch.nn.Module:
    """``arch``'s network with its initial weights drawn the ``init`` way from ``seed``."""
    if init == "module-path":
        return training.build_network(arch, seed, "cpu")
    torch.manual_seed(seed)  # the old scheme, kept here only to measure it
    return networks.build(arch).to(memory_format=torch.channels_last).train()


def train_one(task: dict) -> tuple[str, dict]:
    """One run (in a worker process): train, score on the built-in images and, if asked, on built-in + Set5."""
    search_space = spaces.load(SPACE)
    arch = genotypes.from_placement(search_space, task["placement"])
    batch, patch, iterations = BUDGETS[task["budget"]]
    budget = replace(search_space.proxy, batch_size=batch, patch_size=patch, iterations=iterations)
    network = initial_network(arch, task["init"], task["init_seed"])
    started = time.perf_counter()
    trained, result = training.train_network(
        arch, budget, search_space.data, task["data_seed"], device="cpu", threads=1, measure_untrained=False,
        network=network,
    )  # fmt: skip
    run = {"psnr": result.psnr, "train_seconds": result.train_seconds, "run_seconds": time.perf_counter() - started}
    if task["rescore"] and SET5.is_dir():
        builtin = evaluate.evaluate(trained, data.source_pairs("builtin", "val", arch.scale), arch.scale)
        set5 = evaluate.evaluate(trained, data.source_pairs(str(SET5), "val", arch.scale), arch.scale)
        run["psnr_builtin_and_set5"] = float(np.mean([s.psnr for s in builtin.images + set5.images]))
    return task["key"], run


def tasks(seeds: int) -> list[dict]:
    planned = []
    for budget in BUDGETS:
        for init in INITS:
            for placement in (REFERENCE, *CONTRASTS.values()):
                for seed in range(seeds):
                    key = run_key(budget, init, placement, seed, seed)
                    rescore = budget == RESCORED_BUDGET
                    planned.append({"key": key, "budget": budget, "init": init, "placement": placement,
                                    "init_seed": seed, "data_seed": seed, "rescore": rescore})  # fmt: skip
    component = CONTRASTS[COMPONENT_GENOTYPE]
    for init_seed in COMPONENT_SEEDS:
        for data_seed in COMPONENT_SEEDS:
            key = run_key(RESCORED_BUDGET, "module-path", component, init_seed, data_seed)
            planned.append({"key": key, "budget": RESCORED_BUDGET, "init": "module-path", "placement": component,
                            "init_seed": init_seed, "data_seed": data_seed, "rescore": False})  # fmt: skip
    unique: dict[str, dict] = {}
    for task in planned:
        unique.setdefault(task["key"], task)  # the component grid's diagonal is already planned, and rescored
    return list(unique.values())


def paired_row(runs: dict, budget: str, init: str, label: str, seeds: int, metric: str, parallel: int) -> dict:
    """The noise of one contrast: sd of the paired difference, the two arms' correlation, seeds and time to settle
    (on this machine, ``parallel`` runs at once)."""
    arm_placement = CONTRASTS[label]
    keys = [(run_key(budget, init, arm_placement, s, s), run_key(budget, init, REFERENCE, s, s)) for s in range(seeds)]
    arm = np.array([runs[a][metric] for a, _ in keys])
    reference = np.array([runs[r][metric] for _, r in keys])
    difference_sd = float(np.std(arm - reference, ddof=1))
    seconds = statistics.median(runs[k]["run_seconds"] for pair in keys for k in pair)
    needed = seeds_needed_or_none(difference_sd, MARGIN_DB, contrasts=1)
    return {
        "budget": budget, "init": init, "contrast": label, "validation": metric, "seeds": seeds,
        "effect_db": float(np.mean(arm - reference)), "difference_sd_db": difference_sd,
        "arm_sd_db": float(np.sqrt((arm.var(ddof=1) + reference.var(ddof=1)) / 2)),
        "intra_seed_correlation": float(np.corrcoef(arm, reference)[0, 1]), "seconds_per_run": seconds,
        "effect_to_noise": float(abs(np.mean(arm - reference)) / difference_sd), "seeds_for_margin": needed,
        "minutes_to_settle": None if needed is None else needed * 2 * seconds / parallel / 60,
    }  # fmt: skip


def variance_components(runs: dict) -> dict:
    """Two-way ANOVA of one genotype's PSNR over init seed × data-order seed (one run per cell): each factor's
    variance component (method of moments, clipped at 0) and the residual (interaction) variance."""
    component = CONTRASTS[COMPONENT_GENOTYPE]
    rows = [{"init": i, "data": d, "psnr": runs[run_key(RESCORED_BUDGET, "module-path", component, i, d)]["psnr"]}
            for i in COMPONENT_SEEDS for d in COMPONENT_SEEDS]  # fmt: skip
    table = anova_lm(smf.ols("psnr ~ C(init) + C(data)", data=pd.DataFrame(rows)).fit())
    residual = float(table.loc["Residual", "mean_sq"])
    levels = len(COMPONENT_SEEDS)
    return {
        "genotype": COMPONENT_GENOTYPE, "budget": RESCORED_BUDGET, "seeds_each": levels,
        "init_sd_db": math.sqrt(max(0.0, (float(table.loc["C(init)", "mean_sq"]) - residual) / levels)),
        "data_order_sd_db": math.sqrt(max(0.0, (float(table.loc["C(data)", "mean_sq"]) - residual) / levels)),
        "interaction_sd_db": math.sqrt(residual),
        "p_init": float(table.loc["C(init)", "PR(>F)"]), "p_data_order": float(table.loc["C(data)", "PR(>F)"]),
        "total_sd_db": float(np.std([r["psnr"] for r in rows], ddof=1)),
    }  # fmt: skip


def summarise(runs: dict, seeds: int, parallel: int) -> dict:
    rows = [paired_row(runs, b, i, c, seeds, "psnr", parallel) for b in BUDGETS for i in INITS for c in CONTRASTS]
    if all("psnr_builtin_and_set5" in runs[run_key(RESCORED_BUDGET, i, REFERENCE, 0, 0)] for i in INITS):
        more_images = "psnr_builtin_and_set5"
        rows += [
            paired_row(runs, RESCORED_BUDGET, i, c, seeds, more_images, parallel) for i in INITS for c in CONTRASTS
        ]
    return {"contrasts": rows, "variance_components": variance_components(runs)}


def print_tables(summary: dict) -> None:
    print(f"\n{'budget':<15} {'validation':<10} {'init':<19} {'contrast':<16} {'effect':>7} {'sd diff':>8} "
          f"{'sd arm':>7} {'corr':>6} {'|eff|/sd':>8} {'s/run':>6} {'seeds':>7} {'min':>7}")  # fmt: skip
    for row in summary["contrasts"]:
        validation = "built-in" if row["validation"] == "psnr" else "+Set5"
        seeds = "—" if row["seeds_for_margin"] is None else str(row["seeds_for_margin"])
        minutes = "—" if row["minutes_to_settle"] is None else f"{row['minutes_to_settle']:.1f}"
        print(f"{row['budget']:<15} {validation:<10} {row['init']:<19} {row['contrast']:<16} {row['effect_db']:+7.3f} "
              f"{row['difference_sd_db']:8.3f} {row['arm_sd_db']:7.3f} {row['intra_seed_correlation']:6.2f} "
              f"{row['effect_to_noise']:8.2f} "
              f"{row['seconds_per_run']:6.1f} {seeds:>7} {minutes:>7}")  # fmt: skip
    components = summary["variance_components"]
    print(f"\nvariance components of {components['genotype']} ({components['budget']}, module-path init, "
          f"{components['seeds_each']} init × {components['seeds_each']} data-order seeds): init sd "
          f"{components['init_sd_db']:.3f} dB (p {components['p_init']:.3f}), data-order sd "
          f"{components['data_order_sd_db']:.3f} dB (p {components['p_data_order']:.3f}), interaction sd "
          f"{components['interaction_sd_db']:.3f} dB; total sd {components['total_sd_db']:.3f} dB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    runs: dict = record.get("runs", {})
    record.update({
        "space": "sr_tiny", "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "threads_per_run": 1, "parallel_runs": args.workers, "torch": torch.__version__, "runs": runs,
    })  # fmt: skip
    todo = [t for t in tasks(args.seeds) if t["key"] not in runs]
    with ProcessPoolExecutor(args.workers) as pool:
        for done in as_completed([pool.submit(train_one, t) for t in todo]):
            key, run = done.result()
            runs[key] = run
            print(f"{key}: {run['psnr']:.3f} dB, {run['run_seconds']:.1f} s", flush=True)
            RECORD.write_text(json.dumps(record, indent=2) + "\n")
    record["summary"] = summarise(runs, args.seeds, args.workers)
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print_tables(record["summary"])


if __name__ == "__main__":
    main()
