"""How well a proxy budget ranks architectures, against a longer training of the same genotypes.

A proxy is useful when the differences it measures between genotypes are larger than the differences between
seeds of one genotype, and when it orders genotypes as a longer training does. For a fixed sample of genotypes
of a space, this trains every genotype under each candidate budget (several seeds) and under a longer
reference budget, then reports per candidate: seconds per run, the seed noise (pooled standard deviation of
PSNR across seeds), the spread between genotypes (standard deviation of their mean PSNR), how well its seeds
agree on the genotype ranking (mean Kendall's τ over pairs of seeds), and Kendall's τ and Spearman's ρ between
its ranking and the reference's (mean PSNR over seeds). The reference's own seed agreement bounds what any
comparison with it can show.

Runs are saved to the json file as they finish; a rerun skips the runs already there.

Usage: python3 bench/proxy_fidelity.py [--space search_spaces/sr_tiny.yaml] [--genotypes 10]
       (prints a table, writes bench/proxy_fidelity.json)
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from nas.core import genotypes, spaces, training
from nas.core.genotypes import Genotype

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("proxy_fidelity.json")
CANDIDATES = {  # label: (batch, LR patch side, iterations), at roughly equal cost per run on a 2-core CPU
    "8×24², 300 it": (8, 24, 300),
    "8×32², 220 it": (8, 32, 220),
    "8×48², 140 it": (8, 48, 140),
}
CANDIDATE_SEEDS = (0, 1, 2)
REFERENCE = ("16×48², 1000 it", (16, 48, 1000))
REFERENCE_SEEDS = (0, 1)


def sample_genotypes(search_space: spaces.SearchSpace, count: int, seed: int) -> list[Genotype]:
    """``count`` distinct genotypes drawn uniformly from the space's per-depth choices."""
    rng = np.random.default_rng(seed)
    sampled: dict[str, Genotype] = {}
    while len(sampled) < count:
        placement = [str(rng.choice(search_space.choices_at(depth))) for depth in range(search_space.depth)]
        arch = genotypes.from_placement(search_space, placement)
        sampled.setdefault(str(arch), arch)
    return list(sampled.values())


def run_key(label: str, arch: Genotype, seed: int) -> str:
    return f"{label} | {arch} | seed {seed}"


def psnr_table(runs: dict, label: str, archs: list[Genotype], seeds: tuple[int, ...]) -> np.ndarray:
    """PSNR of every run of a budget: one row per seed, one column per genotype."""
    return np.array([[runs[run_key(label, a, seed)]["psnr"] for a in archs] for seed in seeds])


def seed_agreement(table: np.ndarray) -> float:
    """Mean Kendall's τ between the genotype rankings of two seeds, over all pairs of seeds."""
    return float(np.mean([stats.kendalltau(a, b).statistic for a, b in itertools.combinations(table, 2)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "sr_tiny.yaml"))
    parser.add_argument("--genotypes", type=int, default=10)
    args = parser.parse_args()
    search_space = spaces.load(args.space)
    archs = sample_genotypes(search_space, args.genotypes, seed=0)
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    runs: dict = record.get("runs", {})
    plan = [(label, shape, CANDIDATE_SEEDS) for label, shape in CANDIDATES.items()]
    plan.append((*REFERENCE, REFERENCE_SEEDS))
    for label, (batch, patch, iterations), seeds in plan:
        budget = replace(search_space.proxy, batch_size=batch, patch_size=patch, iterations=iterations)
        for arch in archs:
            for seed in seeds:
                key = run_key(label, arch, seed)
                if key in runs:
                    continue
                result = training.train(arch, budget, search_space.data, seed, measure_untrained=False)
                runs[key] = {"psnr": result.psnr, "train_seconds": result.train_seconds}
                print(f"{key}: {result.psnr:.3f} dB, {result.train_seconds:.1f} s", flush=True)
                record = {
                    "space": search_space.name, "device": result.device, "precision": result.precision,
                    "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "lr": budget.lr, "genotypes": [str(a) for a in archs], "runs": runs,
                }  # fmt: skip
                RECORD.write_text(json.dumps(record, indent=2) + "\n")

    reference_label = REFERENCE[0]
    reference = psnr_table(runs, reference_label, archs, REFERENCE_SEEDS).mean(axis=0)
    rows = []
    for label, seeds in [(label, CANDIDATE_SEEDS) for label in CANDIDATES] + [(reference_label, REFERENCE_SEEDS)]:
        table = psnr_table(runs, label, archs, seeds)
        means = table.mean(axis=0)
        seconds = statistics.median(runs[run_key(label, a, s)]["train_seconds"] for a in archs for s in seeds)
        is_reference = label == reference_label
        rows.append({
            "budget": label, "seeds": len(seeds), "median_train_seconds": seconds,
            "mean_psnr": float(means.mean()), "genotype_spread_db": float(means.std(ddof=1)),
            "seed_noise_db": float(np.sqrt(table.var(axis=0, ddof=1).mean())),  # pooled over genotypes
            "seed_agreement_tau": seed_agreement(table),
            "kendall_tau": None if is_reference else float(stats.kendalltau(means, reference).statistic),
            "spearman_rho": None if is_reference else float(stats.spearmanr(means, reference).statistic),
        })  # fmt: skip
    record["summary"] = rows
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\n{search_space.name}, {len(archs)} genotypes, reference {reference_label} (seeds {REFERENCE_SEEDS})")
    print(
        f"{'budget':<16} {'s/run':>6} {'mean dB':>8} {'spread dB':>10} {'seed noise dB':>14} "
        f"{'seeds agree τ':>14} {'τ vs ref':>9} {'ρ vs ref':>9}"
    )
    for row in rows:
        against = [f"{row[k]:9.2f}" if row[k] is not None else f"{'—':>9}" for k in ("kendall_tau", "spearman_rho")]
        print(
            f"{row['budget']:<16} {row['median_train_seconds']:6.1f} {row['mean_psnr']:8.3f} "
            f"{row['genotype_spread_db']:10.3f} {row['seed_noise_db']:14.3f} {row['seed_agreement_tau']:14.2f} "
            f"{' '.join(against)}"
        )


if __name__ == "__main__":
    main()
