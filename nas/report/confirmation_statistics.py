"""Do mixed placements beat uniform ones? Answered from confirmation runs (fresh seeds), never from the search.

Each confirmed front genotype that is not itself a uniform placement is compared with the best of the uniform
placements at no greater cost (the "affordable" ones): the effect is genotype − best uniform, and the best is
not known but estimated from the same runs, so the interval accounts for choosing it. With D_u the paired-by-seed
difference genotype − u for each of the k affordable placements u, the genotype minus the best uniform is
min_u D_u, and its interval is

- low end: min over u of each D_u's low end at level 1 − alpha' (a genotype better than every u must beat each
  one: an intersection-union test, no adjustment over u);
- high end: min over u of each D_u's high end at level 1 − alpha'/k (a genotype worse than the best needs only
  one u above it: Bonferroni over the k placements);

with alpha' = alpha / (number of genotypes compared), so the intervals are simultaneous over every comparison.
Each D_u's interval is a t interval over seeds. The verdict words (``nas.report.verdicts``) read that interval:
*better* / *worse*, *equivalent* (within ±margin), *inconclusive*. A cost band is the uniform placement with the
highest confirmed mean and the genotypes compared with it; "mixed placements beat uniform ones" there reads *yes*
when one of them is better, *no* when all are equivalent or worse, and *inconclusive* otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from nas.core.genotypes import UNIFORM_PREFIX
from nas.core.settings import DEFAULT_ALPHA, DEFAULT_MARGIN_DB, DEFAULT_MIN_GAIN_DB
from nas.json_values import jsonable
from nas.report import learned, verdicts


@dataclass(frozen=True)
class Comparison:
    genotype: str
    cost: float
    psnr_db: float  # confirmed mean over seeds
    reference: str  # the affordable uniform placement with the highest confirmed mean, e.g. ``uniform:ca``
    reference_psnr_db: float
    affordable: tuple[str, ...]  # every uniform placement at no greater cost: the "best" is chosen among them
    seeds: int  # seeds the genotype and every affordable placement were trained with (the pairs)
    difference_db: float  # mean of genotype − reference, paired by seed
    low_db: float  # interval of genotype − the best affordable uniform placement (see the module docstring)
    high_db: float
    verdict: str  # better | worse | equivalent | inconclusive (with the size where the interval settles it) | not drawn
    gain_db: float  # the genotype's mean gain over bicubic upsampling of the validation images
    reference_gain_db: float
    not_drawn: str | None = None  # why no verdict is drawn: a network compared has not learned (min_gain_db)


@dataclass(frozen=True)
class ConfirmationResult:
    cost: str
    margin_db: float
    alpha: float
    adjusted_alpha: float  # alpha / number of comparisons (Bonferroni)
    comparisons: list[Comparison]
    bands: dict[str, str]  # reference uniform placement → yes | no | inconclusive | not drawn
    min_gain_db: float = DEFAULT_MIN_GAIN_DB

    def to_json(self) -> dict:
        return jsonable(asdict(self))


def _paired(runs: pd.DataFrame, genotype: str, references: list[str]) -> pd.DataFrame:
    """genotype − each reference, one row per seed all of them were trained with."""
    by_seed = runs.pivot_table(index="seed", columns="genotype", values="psnr", aggfunc="mean")
    complete = by_seed[[genotype, *references]].dropna()
    return complete[references].rsub(complete[genotype], axis=0)


def t_interval(differences: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The t interval at level 1 − ``alpha`` of the mean of paired ``differences`` along their last axis (seeds).

    The same difference on every seed (deterministic training of the same network) is an exact result when
    there are pairs to show it; one pair carries no information (an infinite interval).
    """
    seeds = differences.shape[-1]
    mean = differences.mean(axis=-1)
    if seeds < 2:
        return mean - math.inf, mean + math.inf
    half = stats.t.ppf(1 - alpha / 2, seeds - 1) * differences.std(axis=-1, ddof=1) / math.sqrt(seeds)
    return mean - half, mean + half


def versus_best(differences: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The interval at level 1 − ``alpha`` of genotype − the best of k placements (unknown, chosen by the same
    runs), from ``differences`` genotype − each placement of shape (..., k placements, seeds): intersection-union
    for the low end, Bonferroni over the placements for the high end."""
    placements = differences.shape[-2]
    low, _ = t_interval(differences, alpha)
    _, high = t_interval(differences, alpha / placements)
    return low.min(axis=-1), high.min(axis=-1)


def compare(
    runs: pd.DataFrame,
    cost: str,
    margin_db: float = DEFAULT_MARGIN_DB,
    alpha: float = DEFAULT_ALPHA,
    min_gain_db: float = DEFAULT_MIN_GAIN_DB,
) -> ConfirmationResult:
    """Compares every confirmed non-uniform genotype with the best uniform placement at no greater cost.

    Args:
        runs: One row per confirmation training: ``genotype``, ``seed``, ``psnr``, ``gain_db`` (over bicubic),
            ``arm`` (``uniform:X`` for a uniform placement), and the ``cost`` column.
        cost: The cost column that defines "no greater cost" (``macs``, ``params``...).
        margin_db: The equivalence margin.
        alpha: The family-wise error rate over all comparisons.
        min_gain_db: A comparison whose genotype or best uniform placement gains less over bicubic on average is
            not drawn (``nas.report.learned``).
    """
    means = runs.groupby("genotype").agg(
        psnr=("psnr", "mean"), gain=("gain_db", "mean"), cost=(cost, "first"), arm=("arm", "first")
    )
    uniform = means[means["arm"].str.startswith(UNIFORM_PREFIX)]
    candidates = means[~means["arm"].str.startswith(UNIFORM_PREFIX)]
    pairs = []
    for genotype, row in candidates.iterrows():
        affordable = uniform[uniform["cost"] <= row["cost"]]
        if not affordable.empty:
            pairs.append((genotype, row, affordable))
    adjusted = alpha / max(1, len(pairs))
    comparisons, judged = [], []
    for genotype, row, affordable in pairs:
        differences = _paired(runs, str(genotype), list(affordable.index))
        reference = str(differences.mean().idxmin())  # the best uniform placement by these runs' means
        low, high = (float(end) for end in versus_best(differences.to_numpy(dtype=float).T, adjusted))
        verdict = verdicts.classify(low, high, margin_db)
        gains = {
            str(genotype): float(row["gain"]),
            str(uniform.loc[reference, "arm"]): float(uniform.loc[reference, "gain"]),
        }
        unlearned = learned.short_of_gain(gains, min_gain_db)
        if unlearned is not None:
            verdict = verdicts.Verdict(verdicts.NOT_DRAWN)
        judged.append((str(uniform.loc[reference, "arm"]), verdict))
        comparisons.append(Comparison(
            genotype=str(genotype), cost=float(row["cost"]), psnr_db=float(row["psnr"]),
            reference=str(uniform.loc[reference, "arm"]), reference_psnr_db=float(uniform.loc[reference, "psnr"]),
            affordable=tuple(str(a) for a in affordable["arm"]), seeds=len(differences),
            difference_db=float(differences[reference].mean()), low_db=low, high_db=high,
            verdict=verdict.comparison_text(), gain_db=float(row["gain"]),
            reference_gain_db=float(uniform.loc[reference, "gain"]), not_drawn=unlearned,
        ))  # fmt: skip
    bands: dict[str, list[verdicts.Verdict]] = {}
    for reference, verdict in judged:
        bands.setdefault(reference, []).append(verdict)
    answers = {reference: verdicts.beats(band) for reference, band in bands.items()}
    return ConfirmationResult(cost, margin_db, alpha, adjusted, comparisons, answers, min_gain_db)


def verdict_lines(result: ConfirmationResult, seeds: tuple[int, ...], budget_scale: float) -> list[str]:
    """The search verdict in words, from confirmation runs, with how it was reached."""
    lines = [
        f"**Do mixed placements beat uniform ones? From confirmation runs** (seeds {list(seeds)}, never used by the "
        f"search; budget × {budget_scale:g}): each confirmed front genotype minus the best of the uniform placements "
        f"at no greater {result.cost}, paired by seed; the interval accounts for choosing the best from the same runs "
        f"(low end: it must beat every one; high end: Bonferroni over them) and is simultaneous at "
        f"{100 * (1 - result.alpha):.0f}% over the {len(result.comparisons)} comparisons (per-comparison level "
        f"{result.adjusted_alpha:.4f}); better/worse: the interval excludes 0; equivalent: it lies within "
        f"±{result.margin_db:g} dB.",
    ]
    if not result.comparisons:
        lines.append("No confirmed mixed genotype has a uniform placement at or below its cost: nothing to compare.")
    for reference, answer in result.bands.items():
        lines.append(
            f"- against `{reference}` (the best uniform placement at their cost by confirmed mean): do the mixed "
            "placements beat the best uniform placement? "
            f"**{answer}**"
        )
        for c in (c for c in result.comparisons if c.reference == reference):
            lines.append(
                f"  - `{c.genotype}` {c.psnr_db:.3f} dB ({c.gain_db:+.3f} over bicubic) vs "
                f"{c.reference_psnr_db:.3f} dB ({c.reference_gain_db:+.3f}): {c.difference_db:+.3f} dB; minus the "
                f"best of {len(c.affordable)} affordable [{c.low_db:+.3f}, {c.high_db:+.3f}] over {c.seeds} seeds → "
                f"{c.not_drawn or c.verdict}"
            )
    return lines
