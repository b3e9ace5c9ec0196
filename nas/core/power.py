"""How many seeds a designed experiment needs, and what its seeds can detect: the power of its paired contrasts.

Every effect of a designed experiment is read as a per-seed contrast (``nas.report.experiment_effects``): the mean
over seeds of the contrast's arm differences at each seed, with a t interval at the Bonferroni level alpha / K. Its
power depends on the sd of that per-seed contrast, the *paired sd*, which common random numbers make differ
between kinds of contrast (an arm against its constant-gate twin pairs far more tightly than an arm against
``none``). So seeds are sized per contrast family from that family's paired sd: measured (a pilot, the
experiment so far, the search's repeated baselines) or assumed, and said which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import TTestPower

from nas.core.settings import DEFAULT_ALPHA
from nas.errors import InputError

POWER = 0.8
MIN_SEEDS = 2
MAX_SEEDS = 100_000  # the most seeds a design is sized for: beyond it, "more than" is the answer
MAX_EFFECT_SIZE = 1024.0  # in paired standard deviations


class PowerError(InputError):
    """A power calculation asked for inputs out of range."""


@dataclass(frozen=True)
class FamilyPower:
    """What one family of contrasts (say, attention alone at a group) can detect, from its paired sd."""

    family: str
    contrasts: int  # the family's effects (all of them tested at alpha / the design's whole count)
    paired_sd_db: float  # sd over seeds of one of its per-seed contrasts
    # The range it may take: its confidence interval where one sd was measured, the spread from the calmest to the
    # noisiest contrast where a family's contrasts were.
    paired_sd_range_db: tuple[float, float] | None
    source: str  # measured on what, or assumed
    detectable_db: float  # the effect detected with POWER at the design's seed count
    seeds_for_margin: int | None  # seeds that detect the margin with POWER (None: more than MAX_SEEDS)
    seeds_for_margin_range: tuple[int | None, int | None] | None  # the same at the ends of that range


@dataclass(frozen=True)
class PlannedPower:
    """What a design can detect, per contrast family, before (or while) it is trained."""

    contrasts: int  # every effect the design reports: the Bonferroni family
    families: tuple[FamilyPower, ...]
    basis: str  # the test the power is computed for


def seeds_text(seeds: int | None) -> str:
    """A seed count, or None (more than ``MAX_SEEDS``), in words."""
    return f"about {seeds}" if seeds is not None else f"more than {MAX_SEEDS:,}"


def power_basis(contrasts: int, alpha: float) -> str:
    """How every seed count the harness prints was computed."""
    return (
        f"a paired t-test of one contrast over seeds at alpha {alpha:g}/{contrasts} (Bonferroni), {POWER:.0%} power, "
        "detected meaning the simultaneous interval excludes 0"
    )


def minimum_detectable_effect(
    paired_sd_db: float, seeds: int, contrasts: int, alpha: float = DEFAULT_ALPHA, power: float = POWER
) -> float:
    """The smallest contrast (dB) detected with probability ``power`` by ``seeds`` paired seeds.

    A one-sample t-test of the per-seed contrast (statsmodels ``TTestPower``) at the Bonferroni level
    alpha/contrasts; detected means that the simultaneous interval excludes 0 (*helps* or *hurts*); *helps by at
    least the margin* needs the interval's low end above the margin, so a true effect of about margin + this.

    Raises:
        PowerError: an input is out of range, or the seeds detect nothing below 1,024 paired sds.
    """
    _check_power_inputs(paired_sd_db, contrasts, alpha, power)
    if seeds < MIN_SEEDS:
        raise PowerError(f"seeds {seeds}: a paired comparison needs at least {MIN_SEEDS} seeds")
    level = alpha / contrasts

    def shortfall(size: float) -> float:
        return float(_directional_power(size, seeds, level)) - power

    # Bracket the root ourselves, from twice the normal approximation up: solve_power's fixed bracket misses it for
    # few seeds and many contrasts, and far beyond the root the noncentral t's tail is NaN for many seeds.
    high = 2 * (stats.norm.isf(level / 2) + stats.norm.ppf(power)) / math.sqrt(seeds)
    while shortfall(high) < 0 and high < MAX_EFFECT_SIZE:
        high *= 2
    if not shortfall(high) >= 0:
        raise PowerError(
            f"{seeds} seeds at alpha {alpha:g}/{contrasts} contrasts detect no effect below {MAX_EFFECT_SIZE:g} "
            "paired standard deviations; use more seeds"
        )
    return optimize.brentq(shortfall, 0.0, high) * paired_sd_db


def seeds_needed(
    paired_sd_db: float, margin_db: float, contrasts: int, alpha: float = DEFAULT_ALPHA, power: float = POWER
) -> int:
    """Seeds that detect a contrast of ``margin_db`` with probability ``power`` (at least 2).

    The same test as ``minimum_detectable_effect``: the smallest whole number of seeds whose power reaches
    ``power``, read off the power of every count in doubling blocks (the power is monotone in the seeds), which,
    unlike a root finder, also works where two or three seeds suffice.

    Raises:
        PowerError: an input is out of range, or more than ``MAX_SEEDS`` seeds would be needed.
    """
    _check_power_inputs(paired_sd_db, contrasts, alpha, power)
    if not margin_db > 0:
        raise PowerError(f"margin_db {margin_db!r}: the margin must be a positive number of dB")
    size = margin_db / paired_sd_db
    low = MIN_SEEDS
    while low <= MAX_SEEDS:  # the power of a block of seed counts at once: one vectorised call per block
        counts = np.arange(low, min(2 * low, MAX_SEEDS + 1))
        reached = np.flatnonzero(_directional_power(size, counts, alpha / contrasts) >= power)
        if len(reached):
            return int(counts[reached[0]])
        low *= 2
    raise PowerError(
        f"a {margin_db:g} dB margin at a paired sd of {paired_sd_db:g} dB needs more than {MAX_SEEDS:,} seeds; "
        "choose a larger margin"
    )


def seeds_needed_or_none(
    paired_sd_db: float, margin_db: float, contrasts: int, alpha: float = DEFAULT_ALPHA
) -> int | None:
    """``seeds_needed`` for a measured sd: None where that would be more than MAX_SEEDS (a finding to report, not
    an error), the minimum of 2 where the runs showed no noise at all."""
    if paired_sd_db == 0:
        return MIN_SEEDS
    try:
        return seeds_needed(paired_sd_db, margin_db, contrasts, alpha)
    except PowerError:
        return None


def family_power(
    family: str,
    contrasts: int,
    paired_sd_db: float,
    paired_sd_range_db: tuple[float, float] | None,
    source: str,
    *,
    seeds: int,
    margin_db: float,
    design_contrasts: int,
    alpha: float,
) -> FamilyPower:
    """A family's power at ``seeds`` and the seeds its margin needs, at its paired sd and at that sd's interval."""

    def seeds_for(sd: float) -> int | None:
        return seeds_needed_or_none(sd, margin_db, design_contrasts, alpha)

    # A family whose runs showed no noise at all detects any effect: no size to solve for.
    detectable = minimum_detectable_effect(paired_sd_db, seeds, design_contrasts, alpha) if paired_sd_db > 0 else 0.0
    return FamilyPower(
        family=family,
        contrasts=contrasts,
        paired_sd_db=paired_sd_db,
        paired_sd_range_db=paired_sd_range_db,
        source=source,
        detectable_db=detectable,
        seeds_for_margin=seeds_for(paired_sd_db),
        seeds_for_margin_range=None
        if paired_sd_range_db is None
        else (seeds_for(paired_sd_range_db[0]), seeds_for(paired_sd_range_db[1])),
    )


def _directional_power(size: float, seeds: int | np.ndarray, level: float) -> np.ndarray:
    """Power of the two-sided one-sample t-test at ``level`` to reject on the side of the effect, per seed count.

    That is the one-sided power at level/2. It leaves out rejections with the wrong sign, which detect
    nothing (and make statsmodels' two-sided power NaN for large effects with few seeds).
    """
    return np.asarray(TTestPower().power(effect_size=size, nobs=seeds, alpha=level / 2, alternative="larger"))


def _check_power_inputs(paired_sd_db: float, contrasts: int, alpha: float, power: float) -> None:
    if not paired_sd_db > 0:
        raise PowerError(f"paired sd {paired_sd_db!r}: the noise of a contrast must be a positive number of dB")
    if contrasts < 1:
        raise PowerError(f"contrasts {contrasts}: at least one contrast is tested")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise PowerError(f"alpha {alpha!r} and power {power!r} must lie between 0 and 1")
