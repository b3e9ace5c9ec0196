"""Do mixed placements beat uniform ones? Answered from confirmation runs (fresh seeds), never from the search.

For each confirmed front genotype that is not itself a uniform placement, the reference is the best uniform
placement (highest confirmed mean PSNR) whose cost is at most the genotype's. The two are compared by their
paired-by-seed PSNR differences: the mean difference with a t interval over seeds, Bonferroni-adjusted for the
number of comparisons, and a two-one-sided equivalence test (TOST) at the same adjusted level against the margin.
Each comparison reads *better* / *worse* (adjusted interval excludes 0 and |difference| >= margin), *equivalent*
(TOST: within ±margin) or *inconclusive*. A cost band is a reference uniform placement and the genotypes compared
with it; "mixed placements beat uniform ones" there reads *yes* when one of them is better, *no* when all are
equivalent or worse, and *inconclusive* otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.weightstats import DescrStatsW

from nas.core.genotypes import UNIFORM_PREFIX
from nas.core.settings import DEFAULT_ALPHA, DEFAULT_MARGIN_DB
from nas.report import verdicts
from nas.report.json_values import jsonable


@dataclass(frozen=True)
class Comparison:
    genotype: str
    cost: float
    psnr_db: float  # confirmed mean over seeds
    reference: str  # the uniform placement it is compared with, e.g. ``uniform:ca``
    reference_psnr_db: float
    seeds: int  # seeds both were trained with (the pairs)
    difference_db: float  # mean of genotype − reference, paired by seed
    low_db: float  # adjusted interval of the difference
    high_db: float
    equivalence_low_db: float  # the 1 − 2·alpha' interval of the TOST against ±margin
    equivalence_high_db: float
    verdict: str  # better | worse | equivalent | inconclusive


@dataclass(frozen=True)
class ConfirmationResult:
    cost: str
    margin_db: float
    alpha: float
    adjusted_alpha: float  # alpha / number of comparisons (Bonferroni)
    comparisons: list[Comparison]
    bands: dict[str, str]  # reference uniform placement → yes | no | inconclusive

    def to_json(self) -> dict:
        return jsonable(asdict(self))


def _paired(runs: pd.DataFrame, genotype: str, reference: str) -> np.ndarray:
    by_seed = runs.pivot_table(index="seed", columns="genotype", values="psnr", aggfunc="mean")
    pairs = by_seed[[genotype, reference]].dropna()
    return (pairs[genotype] - pairs[reference]).to_numpy(dtype=float)


def _intervals(differences: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """The mean difference's interval at level 1 − alpha and its TOST interval at level 1 − 2·alpha."""
    if len(differences) < 2 or np.ptp(differences) == 0:
        # The same difference on every seed (deterministic training of the same network): an exact result when
        # there are pairs to show it, no information with one pair.
        mean = float(differences.mean())
        spread = 0.0 if len(differences) >= 2 else math.inf
        return mean - spread, mean + spread, mean - spread, mean + spread
    stats = DescrStatsW(differences)
    low, high = stats.tconfint_mean(alpha=alpha)
    equivalence_low, equivalence_high = stats.tconfint_mean(alpha=2 * alpha)
    return float(low), float(high), float(equivalence_low), float(equivalence_high)


def compare(
    runs: pd.DataFrame, cost: str, margin_db: float = DEFAULT_MARGIN_DB, alpha: float = DEFAULT_ALPHA
) -> ConfirmationResult:
    """Compares every confirmed non-uniform genotype with the best uniform placement at no greater cost.

    Args:
        runs: One row per confirmation training: ``genotype``, ``seed``, ``psnr``, ``arm`` (``uniform:X`` for a
            uniform placement), and the ``cost`` column.
        cost: The cost column that defines "no greater cost" (``macs``, ``params``...).
        margin_db: The equivalence margin.
        alpha: The family-wise error rate over all comparisons.
    """
    means = runs.groupby("genotype").agg(psnr=("psnr", "mean"), cost=(cost, "first"), arm=("arm", "first"))
    uniform = means[means["arm"].str.startswith(UNIFORM_PREFIX)]
    candidates = means[~means["arm"].str.startswith(UNIFORM_PREFIX)]
    pairs = []
    for genotype, row in candidates.iterrows():
        affordable = uniform[uniform["cost"] <= row["cost"]]
        if not affordable.empty:
            pairs.append((genotype, row, affordable["psnr"].idxmax()))
    adjusted = alpha / max(1, len(pairs))
    comparisons = []
    for genotype, row, reference in pairs:
        differences = _paired(runs, genotype, reference)
        difference = float(differences.mean())
        low, high, equivalence_low, equivalence_high = _intervals(differences, adjusted)
        word = verdicts.classify(difference, low, high, equivalence_low, equivalence_high, margin_db)
        comparisons.append(Comparison(
            genotype=genotype, cost=float(row["cost"]), psnr_db=float(row["psnr"]),
            reference=str(uniform.loc[reference, "arm"]), reference_psnr_db=float(uniform.loc[reference, "psnr"]),
            seeds=len(differences), difference_db=difference, low_db=low, high_db=high,
            equivalence_low_db=equivalence_low, equivalence_high_db=equivalence_high,
            verdict=verdicts.AS_COMPARISON[word],
        ))  # fmt: skip
    return ConfirmationResult(cost, margin_db, alpha, adjusted, comparisons, _bands(comparisons))


def _bands(comparisons: list[Comparison]) -> dict[str, str]:
    bands: dict[str, list[str]] = {}
    for comparison in comparisons:
        bands.setdefault(comparison.reference, []).append(comparison.verdict)
    return {
        reference: "yes" if "better" in verdicts
        else "no" if all(v in ("equivalent", "worse") for v in verdicts)
        else "inconclusive"
        for reference, verdicts in bands.items()
    }  # fmt: skip


def verdict_lines(result: ConfirmationResult, seeds: tuple[int, ...], budget_scale: float) -> list[str]:
    """The search verdict in words, from confirmation runs, with how it was reached."""
    lines = [
        f"**Do mixed placements beat uniform ones? From confirmation runs** (seeds {list(seeds)}, never used by the "
        f"search; budget × {budget_scale:g}): each confirmed front genotype against the best uniform placement at no "
        f"greater {result.cost}, paired by seed; {100 * (1 - result.alpha):.0f}% intervals simultaneous over the "
        f"{len(result.comparisons)} comparisons (Bonferroni, per-comparison level {result.adjusted_alpha:.4f}); "
        f"equivalence by TOST within ±{result.margin_db:g} dB.",
    ]
    if not result.comparisons:
        lines.append("No confirmed mixed genotype has a uniform placement at or below its cost: nothing to compare.")
    for reference, answer in result.bands.items():
        lines.append(
            f"- against `{reference}` (the best uniform placement at their cost): do the mixed placements beat it? "
            f"**{answer}**"
        )
        for c in (c for c in result.comparisons if c.reference == reference):
            lines.append(
                f"  - `{c.genotype}` {c.psnr_db:.3f} dB vs {c.reference_psnr_db:.3f} dB: {c.difference_db:+.3f} dB "
                f"[{c.low_db:+.3f}, {c.high_db:+.3f}] over {c.seeds} seeds → {c.verdict}"
            )
    return lines
