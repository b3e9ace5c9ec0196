"""The statistics of a designed attention-placement experiment (see ``nas.core.design`` for the arms).

``analyse(runs, design)`` fits one OLS model to every training of the design, PSNR ~ arm + seed, with arm and
seed categorical: the seed is a blocking factor, so every comparison of two arms is paired by seed. Effects
are contrasts of that fit:

- ``attention`` effects of block X: ``uniform - none`` (X at every depth), ``only g - none`` (X at the depths
  of g alone) and ``uniform - drop g`` (X at g on top of X everywhere else); ``control`` effects: the same for
  the capacity control matched to what X adds to a slot; ``attention - control``: each attention effect minus
  the same effect of the control, i.e. what attention adds beyond the same number of parameters; ``mechanism``
  and ``attention - mechanism``: the same for X with its gate a learned constant (``fixed_X``), i.e. what the
  gate's dependence on the input adds. Beside every effect, what its arms differ by in parameters, MACs and
  activations (``nas.core.counting``).
- Attention helps beyond capacity (intersection-union test): attention - none, attention - the capacity control
  and attention - the mechanism control all read *helps*. Each is a test at the family-wise level, so the
  conjunction is too, without further adjustment; a block without one of the controls cannot be shown to.
- Standard errors are heteroscedasticity-robust: HC2 with the Bell-McCaffrey degrees of freedom of each
  contrast (a Satterthwaite approximation from the design), so one arm that trains less reliably than the others
  does not make the contrasts touching it over-confident (a single pooled variance would). Intervals are t
  intervals on those degrees of freedom, simultaneous at 1 - alpha over every effect the result reports
  (Bonferroni); p-values are Holm-adjusted over the same family.
- Verdict words (``nas.report.verdicts``) read the simultaneous interval only: *helps* / *hurts* when it excludes
  0 (with "by at least the margin" or "by less than the margin" where the interval settles the size), *no effect*
  when it lies within ±margin, else *inconclusive*. An effect whose arms lost different numbers of runs (failed
  or diverged trainings) gets no verdict: the runs left are not a random sample of what was designed.
- Omnibus gate: an F-test that all arm means are equal comes first. When it does not reject at alpha no
  effect reads helps or hurts and no depth finding is named; the result says how many seeds would detect the
  margin, with that number's basis. *No effect* is still reported: it is a claim of its own interval.
- The claim, per block and arm kind: the group verdicts read together (``verdicts.claim``): *depth-selective*
  when one group helps and another reads no effect or hurts, else helps / hurts everywhere, no effect anywhere,
  or inconclusive. Jointly valid: the intervals are simultaneous.
- Whether the effect size differs across depth is its own F-test (a block's group effects all equal, both arm
  kinds), per block and over all tested blocks, Holm-adjusted over those tests. It is not the claim: it also
  rejects when attention helps at every depth by different amounts. The F-tests pool one variance.
- Seed noise: the residual standard deviation of the blocked fit (what a run adds beyond its seed: every seed is
  one stream of common random numbers for all arms), with a chi-square interval on its degrees of freedom; beside
  it the sd of a paired difference (√2 × residual), one arm's sd across seeds and the intra-seed correlation.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.regression.linear_model import RegressionResults
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from nas.core.counting import ACTIVATIONS
from nas.core.design import (
    CAPACITY,
    MAX_SEEDS,
    MECHANISM,
    ControlGap,
    ExperimentDesign,
    control_name,
    group_text,
    role_label,
    seeds_text,
)
from nas.core.objectives import COUNTED_COSTS
from nas.core.settings import DEFAULT_ALPHA
from nas.errors import InputError
from nas.json_values import jsonable
from nas.report import analysis, verdicts
from nas.sr.protocol import COST_HR_OUTPUT

RUN_COLUMNS = ("genotype", "seed", "psnr", *COUNTED_COSTS)  # what a designed run gives the analysis
ARM_COSTS = (*COUNTED_COSTS, "activations")  # what every effect says its arms differ by (``DesignedEffect``)
CONTROL_FAMILIES = {CAPACITY: "control", MECHANISM: "mechanism"}  # the effects of each control's own arms
FAMILIES = ("attention", "control", "attention - control", "mechanism", "attention - mechanism")
CONTROL_NAMES = {CAPACITY: "capacity control", MECHANISM: "mechanism control"}
VERDICTS = (verdicts.HELPS, verdicts.HURTS, verdicts.NO_EFFECT, verdicts.INCONCLUSIVE)
ARM_KIND_PHRASES = {"only": "alone", "drop": "on top of the rest"}  # what a group effect of each arm kind measures
# The same in a design of changes to a trained parent (``ExperimentDesign.parent``), each fine-tuned.
PARENT_KIND_PHRASES = {"only": "in place of the parent's blocks", "drop": "on top of the rest of the parent"}
POWER = 0.8
MIN_SEEDS = 2
MAX_EFFECT_SIZE = 1024.0  # in noise standard deviations
# A paired difference of two arms has sd sqrt(2)·sigma when the two runs' residuals are independent with sd sigma.
DIFFERENCE_SD_PER_NOISE = math.sqrt(2.0)


class ExperimentDataError(InputError):
    """Runs that cannot be analysed against their design."""


@dataclass(frozen=True)
class IntervalBasis:
    """What every effect interval is over and how it was adjusted."""

    confidence: float  # simultaneous (family-wise) level
    per_interval: float  # level of each interval: 1 - alpha/contrasts
    adjustment: str
    contrasts: int
    over: str
    standard_errors: str


@dataclass(frozen=True)
class DesignedEffect:
    """One contrast of the fit, in dB, with its simultaneous interval, tests and verdict."""

    block: str
    family: str  # one of FAMILIES
    kind: str  # uniform, only or drop
    group: int | None
    label: str
    estimate_db: float
    low_db: float
    high_db: float
    dof: float  # the contrast's Bell-McCaffrey degrees of freedom (its t interval's)
    p_value: float
    p_holm: float
    verdict: str  # helps | hurts | no effect | inconclusive
    size: str | None  # helps / hurts: by at least / by less than the margin, where the interval settles it
    withheld: str | None  # why no verdict is drawn though the interval would allow one (arms lost runs unequally)
    # What the compared arms differ by (the plus arms' minus the minus arms'); None where an arm's is unknown.
    params_added: float | None = None
    macs_added: float | None = None
    activations_added: float | None = None

    @property
    def verdict_text(self) -> str:
        return verdicts.Verdict(self.verdict, self.size).text()


@dataclass(frozen=True)
class FTest:
    """An F-test of the fit; ``p_holm`` is adjusted over its family (None for a test of its own)."""

    name: str
    f: float
    df_num: int
    df_denom: int
    p_value: float
    p_holm: float | None
    rejects: bool


@dataclass(frozen=True)
class ResidualNoise:
    """Residual standard deviation of the blocked fit (what one training adds beyond its seed), with its interval;
    beside it, one arm's spread across seeds and the intra-seed correlation of two arms' runs."""

    std_db: float
    low_db: float
    high_db: float
    dof: int
    confidence: float
    one_run_db: float | None  # pooled within-arm sd across seeds (None: no arm has two runs)
    intra_seed_correlation: float | None  # 1 − std² / one_run²: what a seed gives every arm alike

    @property
    def paired_difference_db(self) -> float:
        """The sd of a difference of two arms' runs of one seed."""
        return DIFFERENCE_SD_PER_NOISE * self.std_db


@dataclass(frozen=True)
class ArmSummary:
    """One arm's runs: count, runs lost (failed or diverged), mean PSNR (not paired), and its cost."""

    label: str
    genotype: str
    roles: tuple[str, ...]
    runs: int
    lost: int
    psnr_mean_db: float
    params: float | None
    macs: float | None
    activations: float | None = None  # ``nas.core.counting.activations``, where the caller counted them


@dataclass(frozen=True)
class BeyondCapacity:
    """Whether block X helps beyond capacity at one arm kind and group (an intersection-union test)."""

    block: str
    kind: str
    group: int | None
    shown: bool  # attention - none and attention - each control all read helps
    missing: tuple[str, ...]  # the controls X has no arms of here (then it cannot be shown)
    text: str


@dataclass(frozen=True)
class BlockClaim:
    """A2N's claim for one block and arm kind: its group verdicts read together (``verdicts.claim``)."""

    block: str
    kind: str  # only (the block alone at each group) or drop (the block at each group on top of the rest)
    claim: str  # depth-selective | helps everywhere | hurts everywhere | no effect anywhere | inconclusive
    groups: tuple[str, ...]  # each group's verdict, in group order


@dataclass(frozen=True)
class ExperimentResult:
    """Everything ``analyse`` found, with the verdict in words; ``to_json()`` gives plain JSON values."""

    blocks: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    seeds: tuple[int, ...]
    margin_db: float
    alpha: float
    control: str | None
    parent: str | None  # the trained parent every arm changes (proxy.init); None: from scratch
    mechanism: bool
    control_matches: tuple[tuple[str, str], ...]  # per block with a capacity control, how it matches
    control_gaps: tuple[ControlGap, ...]  # the controls a block could not get, and why
    runs_used: int
    runs_ignored: int
    arms: tuple[ArmSummary, ...]
    noise: ResidualNoise
    omnibus: FTest
    depth_tests: tuple[FTest, ...]
    interval: IntervalBasis
    effects: tuple[DesignedEffect, ...]
    claims: tuple[BlockClaim, ...]
    beyond: tuple[BeyondCapacity, ...]
    seeds_to_detect_margin: int | None  # None: more than MAX_SEEDS (the margin is far below the noise)
    # The same at the two ends of the noise's interval: how far the number itself can be trusted.
    seeds_to_detect_margin_range: tuple[int | None, int | None]
    verdict: tuple[str, ...]

    def to_json(self) -> dict:
        """A dict of JSON values (lists, not tuples) that ``json.loads(json.dumps(...))`` returns unchanged."""
        return jsonable(dataclasses.asdict(self))

    def effects_frame(self) -> pd.DataFrame:
        """One row per effect (the fields of ``DesignedEffect``)."""
        return pd.DataFrame(
            [dataclasses.asdict(e) for e in self.effects], columns=list(DesignedEffect.__dataclass_fields__)
        )


def minimum_detectable_effect(
    noise_db: float, seeds: int, contrasts: int, alpha: float = DEFAULT_ALPHA, power: float = POWER
) -> float:
    """The smallest arm difference (dB) detected with probability ``power`` by ``seeds`` paired seeds.

    A paired t-test of two arms (statsmodels ``TTestPower``) at the Bonferroni level alpha/contrasts; the
    paired differences have sd sqrt(2)·noise for independent residuals. The blocked fit of the whole design
    has more residual degrees of freedom than one paired test, so its power is at least this. Detected means
    that the simultaneous interval excludes 0 (*helps* or *hurts*); *helps by at least the margin* needs the
    interval's low end above the margin, so a true effect of about margin + this.

    Raises:
        ExperimentDataError: an input is out of range, or the seeds detect nothing below 1,024 noise sds.
    """
    _check_power_inputs(noise_db, contrasts, alpha, power)
    if seeds < MIN_SEEDS:
        raise ExperimentDataError(f"seeds {seeds}: a paired comparison needs at least {MIN_SEEDS} seeds")
    level = alpha / contrasts

    def shortfall(size: float) -> float:
        return _directional_power(size, seeds, level) - power

    # Bracket the root ourselves: solve_power's fixed bracket misses it for few seeds and many contrasts.
    high = 1.0
    while shortfall(high) < 0 and high < MAX_EFFECT_SIZE:
        high *= 2
    if not shortfall(high) >= 0:
        raise ExperimentDataError(
            f"{seeds} seeds at alpha {alpha:g}/{contrasts} contrasts detect no effect below {MAX_EFFECT_SIZE:g} "
            "noise standard deviations; use more seeds"
        )
    return optimize.brentq(shortfall, 0.0, high) * DIFFERENCE_SD_PER_NOISE * noise_db


def seeds_needed(
    noise_db: float, margin_db: float, contrasts: int, alpha: float = DEFAULT_ALPHA, power: float = POWER
) -> int:
    """Seeds per arm that detect an arm difference of ``margin_db`` with probability ``power`` (at least 2).

    The same test as ``minimum_detectable_effect``: the smallest whole number of seeds whose power reaches
    ``power``, found by bisection on the power (monotone in the seeds), which, unlike a root finder, also
    works where two or three seeds suffice.

    Raises:
        ExperimentDataError: an input is out of range, or more than 100,000 seeds would be needed.
    """
    _check_power_inputs(noise_db, contrasts, alpha, power)
    if not margin_db > 0:
        raise ExperimentDataError(f"margin_db {margin_db!r}: the margin must be a positive number of dB")
    size = margin_db / (DIFFERENCE_SD_PER_NOISE * noise_db)

    def enough(seeds: int) -> bool:
        return _directional_power(size, seeds, alpha / contrasts) >= power

    high = MIN_SEEDS
    while not enough(high):
        high *= 2
        if high > MAX_SEEDS:
            raise ExperimentDataError(
                f"a {margin_db:g} dB margin at {noise_db:g} dB seed noise needs more than {MAX_SEEDS:,} seeds; "
                "choose a larger margin"
            )
    candidates = range(MIN_SEEDS, high + 1)
    return candidates[bisect.bisect_left(candidates, True, key=enough)]


def _directional_power(size: float, seeds: int, level: float) -> float:
    """Power of the two-sided paired t-test at ``level`` to reject on the side of the effect.

    That is the one-sided power at level/2. It leaves out rejections with the wrong sign, which detect
    nothing (and make statsmodels' two-sided power NaN for large effects with few seeds).
    """
    return float(TTestPower().power(effect_size=size, nobs=seeds, alpha=level / 2, alternative="larger"))


def _check_power_inputs(noise_db: float, contrasts: int, alpha: float, power: float) -> None:
    if not noise_db > 0:
        raise ExperimentDataError(f"noise_db {noise_db!r}: the seed noise must be a positive number of dB")
    if contrasts < 1:
        raise ExperimentDataError(f"contrasts {contrasts}: at least one contrast is tested")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ExperimentDataError(f"alpha {alpha!r} and power {power!r} must lie between 0 and 1")


def seeds_needed_or_none(noise_db: float, margin_db: float, contrasts: int, alpha: float = DEFAULT_ALPHA) -> int | None:
    """``seeds_needed`` for measured noise: None where that would be more than MAX_SEEDS (a finding to report,
    not an error), the minimum of 2 where the runs showed no noise at all."""
    if noise_db == 0:
        return 2
    try:
        return seeds_needed(noise_db, margin_db, contrasts, alpha)
    except ExperimentDataError:
        return None


def contrast_count(design: ExperimentDesign) -> int:
    """How many effects ``analyse`` reports for ``design``: the family its intervals are adjusted over."""
    return len(_contrasts(design))


def analyse(
    runs: pd.DataFrame, design: ExperimentDesign, activations: Mapping[str, int] | None = None
) -> ExperimentResult:
    """The effects, tests, noise and verdict of a designed experiment.

    Args:
        runs: One row per training, with columns genotype, seed, psnr, macs, params. Rows of other genotypes
            or seeds, and failed trainings (PSNR missing), are ignored and counted.
        design: The design the runs were trained for.
        activations: Each arm genotype's activations (``nas.core.counting.activations``), to say beside every
            effect; None: not said.

    Raises:
        ExperimentDataError: a column is missing, an arm has no runs, or no residual degrees of freedom are
            left (too few runs to estimate the seed noise).
    """
    used, ignored, lost = _design_runs(runs, design)
    fit, coefficient = _fit(used, design)
    planned = _contrasts(design)
    basis = IntervalBasis(
        confidence=1 - design.alpha,
        per_interval=1 - design.alpha / len(planned),
        adjustment=f"Bonferroni over {len(planned)} contrasts; p-values Holm-adjusted over the same",
        contrasts=len(planned),
        over=f"{len(design.seeds)} seeds per arm, paired by seed (seed a blocking factor)",
        standard_errors="HC2 (heteroscedasticity-robust), t on each contrast's Bell-McCaffrey degrees of freedom",
    )
    omnibus = _omnibus(fit, coefficient, design)
    noise = _noise(fit, used, design.alpha)
    arms = _arm_summaries(used, design, lost, activations or {})
    scored = _score(fit, planned, coefficient, design, omnibus.rejects, lost, arms)
    depth_tests = _depth_tests(fit, coefficient, design)
    needed = seeds_needed_or_none(noise.std_db, design.margin_db, len(planned), design.alpha)
    needed_range = tuple(
        seeds_needed_or_none(end, design.margin_db, len(planned), design.alpha) for end in (noise.low_db, noise.high_db)
    )
    result = ExperimentResult(
        blocks=design.blocks,
        groups=design.groups,
        seeds=design.seeds,
        margin_db=design.margin_db,
        alpha=design.alpha,
        control=design.control,
        parent=design.parent,
        mechanism=design.mechanism,
        control_matches=design.matches,
        control_gaps=design.gaps,
        runs_used=len(used),
        runs_ignored=ignored,
        arms=arms,
        noise=noise,
        omnibus=omnibus,
        depth_tests=depth_tests,
        interval=basis,
        effects=scored,
        claims=_claims(scored, design),
        beyond=_beyond(scored, design),
        seeds_to_detect_margin=needed,
        seeds_to_detect_margin_range=(needed_range[0], needed_range[1]),
        verdict=(),
    )
    return dataclasses.replace(result, verdict=verdict_lines(result))


def _design_runs(runs: pd.DataFrame, design: ExperimentDesign) -> tuple[pd.DataFrame, int, list[int]]:
    """The runs of the design's arms and seeds with a PSNR, an ``arm`` index column added; the count of the rows
    ignored (other genotypes or seeds, or a failure of a run that was trained after all); and per arm, how many of
    the design's seeds lost their run (a row without a PSNR and none with one: failed or diverged)."""
    missing = [c for c in RUN_COLUMNS if c not in runs.columns]
    if missing:
        raise ExperimentDataError(f"runs lack the column(s) {', '.join(missing)}; give {', '.join(RUN_COLUMNS)}")
    index = {arm.genotype: i for i, arm in enumerate(design.arms)}
    psnr = pd.to_numeric(runs["psnr"], errors="coerce")
    designed = runs["genotype"].isin(list(index)) & runs["seed"].isin(list(design.seeds))
    keep = designed & np.isfinite(psnr)
    used = runs[keep].assign(psnr=psnr[keep], arm=runs.loc[keep, "genotype"].map(index))
    absent = [design.arms[i].label for i in range(len(design.arms)) if i not in set(used["arm"])]
    if absent:
        raise ExperimentDataError(
            f"arm(s) {', '.join(absent)} have no runs with the design's seeds; train them before analysing"
        )
    trained = set(zip(used["arm"], used["seed"], strict=True))
    failed = runs[designed & ~keep]
    lost_pairs = {(index[g], seed) for g, seed in zip(failed["genotype"], failed["seed"], strict=True)} - trained
    lost = [sum(1 for arm, _ in lost_pairs if arm == i) for i in range(len(design.arms))]
    return used, len(runs) - len(used) - len(lost_pairs), lost


def _fit(used: pd.DataFrame, design: ExperimentDesign) -> tuple[RegressionResults, dict[str, int]]:
    """OLS of PSNR on one indicator per arm (cell means) plus seed indicators (all but the first seed present).

    Returns the fit and the column of each arm's coefficient (``arm<i>``); differences of arm coefficients
    are differences of seed-adjusted arm means.
    """
    arms = pd.get_dummies(pd.Categorical(used["arm"], categories=range(len(design.arms))), prefix="arm", dtype=float)
    seeds = pd.get_dummies(pd.Categorical(used["seed"]), prefix="seed", drop_first=True, dtype=float)
    exog = pd.concat([arms, seeds], axis=1)
    exog.index = used.index
    single = [design.arms[i].label for i, count in used["arm"].value_counts().items() if count < 2]
    if single:  # one run has no residual: its arm's variance could not be estimated (robust errors need it)
        raise ExperimentDataError(f"arm(s) {', '.join(single)} have one run; train every arm with at least two seeds")
    fit = sm.OLS(used["psnr"].to_numpy(dtype=float), exog).fit()
    if fit.df_resid < 1:
        raise ExperimentDataError(
            f"{len(used)} runs leave no residual degrees of freedom for {exog.shape[1]} coefficients; "
            "train every arm with at least two seeds"
        )
    return fit, {name: i for i, name in enumerate(exog.columns)}


@dataclass(frozen=True)
class _Contrast:
    """An effect as signed arms: +1 for each arm in ``plus``, -1 for each in ``minus``."""

    plus: tuple[int, ...]
    minus: tuple[int, ...]


@dataclass(frozen=True)
class _Planned:
    """A reported effect before estimation: what it is, and its contrast of arms."""

    block: str
    family: str
    kind: str
    group: int | None
    label: str
    contrast: _Contrast


def _arm_index(design: ExperimentDesign, block: str, kind: str, group: int | None, control: str | None) -> int:
    return design.arms.index(design.arm(block, kind, group, control))


def _contrasts(design: ExperimentDesign) -> list[_Planned]:
    """Every reported effect: per block and arm kind/group, attention, then per control of the block its own
    effect and attention minus it."""
    planned = []
    for block in design.blocks:
        for kind, group in _keys(design, None):
            attention = _Contrast(*_effect_arms(design, block, kind, group, None))
            label = _effect_label(design, block, kind, group, None)
            planned.append(_Planned(block, "attention", kind, group, label, attention))
            for control in design.controls_of(block):
                if (kind, group) not in _keys(design, control):
                    continue
                family = CONTROL_FAMILIES[control]
                own = _Contrast(*_effect_arms(design, block, kind, group, control))
                if sorted(attention.plus) != sorted(attention.minus):  # else attention - control is its negative
                    own_label = _effect_label(design, block, kind, group, control)
                    planned.append(_Planned(block, family, kind, group, own_label, own))
                difference = _net(_Contrast(attention.plus + own.minus, attention.minus + own.plus))
                planned.append(
                    _Planned(block, f"attention - {family}", kind, group, _label(design, difference), difference)
                )
    # An arm compared with itself (a change that leaves the parent as it was) is no effect to report.
    return [p for p in planned if sorted(p.contrast.plus) != sorted(p.contrast.minus)]


def _net(contrast: _Contrast) -> _Contrast:
    """The contrast with each arm that is both added and subtracted taken out (the shared reference)."""
    plus, minus = list(contrast.plus), list(contrast.minus)
    for arm in contrast.plus:
        if arm in minus:
            plus.remove(arm)
            minus.remove(arm)
    return _Contrast(tuple(plus), tuple(minus))


def _label(design: ExperimentDesign, contrast: _Contrast) -> str:
    """``a2b only 0-1 - conv(a2b) only 0-1``: the arms added, then the arms subtracted."""
    return " - ".join(" + ".join(design.arms[arm].label for arm in side) for side in (contrast.plus, contrast.minus))


def _keys(design: ExperimentDesign, control: str | None) -> list[tuple[str, int | None]]:
    """The (arm kind, group) of every effect of a block (``control`` None) or of one of its controls."""
    kinds = design.kinds(control)
    keys: list[tuple[str, int | None]] = [("uniform", None)] if "uniform" in kinds else []
    return keys + [(k, g) for k in ("only", "drop") if k in kinds for g in range(len(design.groups))]


def _effect_arms(
    design: ExperimentDesign, block: str, kind: str, group: int | None, control: str | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(plus, minus) arms: only g - none, uniform - drop g, uniform - none; with a parent (the ``none`` role),
    drop g is parent - drop g."""
    high: tuple[str, int | None]
    low: tuple[str, int | None]
    if kind == "drop":
        high, low = ("none" if design.parent else "uniform", None), ("drop", group)
    else:
        high, low = (kind, group), ("none", None)
    return (_arm_index(design, block, *high, control),), (_arm_index(design, block, *low, control),)


def _effect_label(design: ExperimentDesign, block: str, kind: str, group: int | None, control: str | None) -> str:
    return _label(design, _Contrast(*_effect_arms(design, block, kind, group, control)))


def _vector(contrast: _Contrast, coefficient: dict[str, int]) -> np.ndarray:
    vector = np.zeros(len(coefficient))
    for arm in contrast.plus:
        vector[coefficient[f"arm_{arm}"]] += 1.0
    for arm in contrast.minus:
        vector[coefficient[f"arm_{arm}"]] -= 1.0
    return vector


@dataclass(frozen=True)
class _Inference:
    """Contrasts of the fit with robust standard errors: estimates, standard errors and degrees of freedom."""

    estimate: np.ndarray
    se: np.ndarray
    dof: np.ndarray

    def interval(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        half = stats.t.ppf(1 - alpha / 2, self.dof) * self.se
        return self.estimate - half, self.estimate + half

    def p_values(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # exact runs: se 0
            t = np.where(self.se > 0, np.abs(self.estimate) / self.se, np.where(self.estimate == 0, 0.0, np.inf))
        return 2 * stats.t.sf(t, self.dof)


def robust_contrasts(fit: RegressionResults, matrix: np.ndarray) -> _Inference:
    """The contrasts ``matrix @ beta`` with HC2 standard errors and Bell-McCaffrey degrees of freedom.

    HC2 weighs each squared residual by 1 / (1 - leverage), which makes its variance unbiased when the errors
    are homoscedastic; the degrees of freedom are those of the Satterthwaite approximation to that variance's
    distribution under homoscedastic normal errors (Bell and McCaffrey 2002; Imbens and Kolesar 2016): few when
    a contrast leans on few residuals. Both follow from the design matrix alone, plus the residuals for HC2.
    """
    exog = np.asarray(fit.model.exog, dtype=float)
    residuals = np.asarray(fit.resid, dtype=float)
    bread = np.linalg.pinv(exog.T @ exog)
    hat = exog @ bread @ exog.T
    annihilator = np.eye(len(residuals)) - hat
    # Each contrast's variance is sum_i weight_i · residual_i²; arms have two runs or more, so leverage < 1.
    weights = (matrix @ bread @ exog.T) ** 2 / (1 - np.diag(hat))
    variance = weights @ residuals**2
    expected = weights @ np.diag(annihilator)  # E[variance] / sigma² for homoscedastic errors
    spread = np.einsum("ci,ij,cj->c", weights, annihilator**2, weights)  # Var[variance] / (2 sigma⁴)
    dof = np.divide(expected**2, spread, out=np.full_like(expected, np.inf), where=spread > 0)
    return _Inference(matrix @ np.asarray(fit.params, dtype=float), np.sqrt(variance), dof)


def _score(
    fit: RegressionResults,
    planned: list[_Planned],
    coefficient: dict[str, int],
    design: ExperimentDesign,
    gate_open: bool,
    lost: list[int],
    arms: tuple[ArmSummary, ...],
) -> tuple[DesignedEffect, ...]:
    """Estimates, simultaneous robust intervals, Holm p-values and verdicts of every effect, with what its arms
    differ by in cost."""
    inference = robust_contrasts(fit, np.array([_vector(p.contrast, coefficient) for p in planned]))
    low, high = inference.interval(design.alpha / len(planned))
    p_values = inference.p_values()
    p_holm = multipletests(p_values, alpha=design.alpha, method="holm")[1]
    scored = []
    for i, p in enumerate(planned):
        verdict = verdicts.classify(float(low[i]), float(high[i]), design.margin_db, gate_open)
        withheld = _unequal_losses(p.contrast, lost, design)
        if withheld:
            verdict = verdicts.Verdict(verdicts.INCONCLUSIVE)
        scored.append(DesignedEffect(
            block=p.block, family=p.family, kind=p.kind, group=p.group, label=p.label,
            estimate_db=float(inference.estimate[i]), low_db=float(low[i]), high_db=float(high[i]),
            dof=float(inference.dof[i]), p_value=float(p_values[i]), p_holm=float(p_holm[i]),
            verdict=verdict.word, size=verdict.size, withheld=withheld,
            **{f"{cost}_added": _cost_added(p.contrast, arms, cost) for cost in ARM_COSTS},
        ))  # fmt: skip
    return tuple(scored)


def _cost_added(contrast: _Contrast, arms: tuple[ArmSummary, ...], cost: str) -> float | None:
    """The plus arms' ``cost`` minus the minus arms'; None where an arm's is unknown."""
    values = [getattr(arms[arm], cost) for arm in contrast.plus + contrast.minus]
    if any(value is None for value in values):
        return None
    return sum(values[: len(contrast.plus)]) - sum(values[len(contrast.plus) :])


def _unequal_losses(contrast: _Contrast, lost: list[int], design: ExperimentDesign) -> str | None:
    """Why the contrast gets no verdict: its arms lost different numbers of runs; None when they did not."""
    arms = contrast.plus + contrast.minus
    if len({lost[arm] for arm in arms}) <= 1:
        return None
    counts = ", ".join(f"{design.arms[arm].label} {lost[arm]}" for arm in arms)
    return f"its arms lost different numbers of runs (failed or diverged: {counts} of {len(design.seeds)})"


def _claims(scored: tuple[DesignedEffect, ...], design: ExperimentDesign) -> tuple[BlockClaim, ...]:
    """Per tested block and arm kind, A2N's claim from the attention effects at every depth group."""
    claims = []
    for block in design.blocks:
        for kind in ARM_KIND_PHRASES:
            effects = [e for e in scored if (e.block, e.family, e.kind) == (block, "attention", kind)]
            if not effects:  # every such arm is the parent itself: nothing was changed
                continue
            group_verdicts = [verdicts.Verdict(e.verdict, e.size) for e in effects]
            pairs = zip(effects, group_verdicts, strict=True)
            texts = tuple(f"{group_text(design.groups[e.group or 0])}: {v.text()}" for e, v in pairs)
            every = len(effects) == len(design.groups)  # a group whose arm is the parent itself is not tested
            claims.append(BlockClaim(block, kind, verdicts.claim(group_verdicts, every), texts))
    return tuple(claims)


def _beyond(scored: tuple[DesignedEffect, ...], design: ExperimentDesign) -> tuple[BeyondCapacity, ...]:
    """Per block, arm kind and group where attention helps: whether it helps beyond capacity, i.e. beyond both
    controls (an intersection-union test), or which control is missing to show it."""
    if design.control is None and not design.mechanism:  # a design without controls does not ask
        return ()
    by_key = {(e.block, e.family, e.kind, e.group): e for e in scored}
    found = []
    for (block, family, kind, group), effect in by_key.items():
        if family != "attention" or effect.verdict != verdicts.HELPS:
            continue
        # Where the block is the parent's at g, swapping it in changes nothing: the effects over the controls are
        # those of its ``only`` arms, beside what it adds (``drop``).
        over_kind = "only" if design.parent and kind == "drop" else kind
        over = {c: by_key.get((block, f"attention - {f}", over_kind, group)) for c, f in CONTROL_FAMILIES.items()}
        missing = tuple(CONTROL_NAMES[c] for c, e in over.items() if e is None)
        legs = [_verdict(e) for e in over.values() if e is not None]
        shown = not missing and verdicts.beyond(_verdict(effect), legs)
        found.append(BeyondCapacity(block, kind, group, shown, missing, verdicts.beyond_text(shown, missing)))
    return tuple(found)


def _verdict(effect: DesignedEffect) -> verdicts.Verdict:
    return verdicts.Verdict(effect.verdict, effect.size)


def _f_test(fit: RegressionResults, name: str, matrix: np.ndarray, alpha: float) -> FTest:
    result = fit.f_test(matrix)
    p_value = float(np.squeeze(result.pvalue))
    return FTest(
        name, float(np.squeeze(result.fvalue)), int(result.df_num), int(result.df_denom), p_value, None, p_value < alpha
    )


def _omnibus(fit: RegressionResults, coefficient: dict[str, int], design: ExperimentDesign) -> FTest:
    """F-test that every arm has the same seed-adjusted mean."""
    rows = [_vector(_Contrast((arm,), (0,)), coefficient) for arm in range(1, len(design.arms))]
    return _f_test(fit, "all arm means equal", np.array(rows), design.alpha)


def _independent(rows: list[np.ndarray]) -> np.ndarray:
    """A maximal linearly independent subset of ``rows``: shared arms can make restrictions repeat."""
    kept: list[np.ndarray] = []
    for row in rows:
        if np.linalg.matrix_rank(np.array([*kept, row])) > len(kept):
            kept.append(row)
    return np.array(kept)


def _group_restrictions(
    design: ExperimentDesign, coefficient: dict[str, int], block: str, control: str | None
) -> list[np.ndarray]:
    """Rows stating that each arm kind's effect at every group equals its effect at group 0."""
    rows = []
    for kind in (k for k in ("only", "drop") if k in design.kinds(control)):
        contrasts = [_Contrast(*_effect_arms(design, block, kind, g, control)) for g in range(len(design.groups))]
        # A group whose arm is the reference itself changes nothing: its zero contrast would test effect = 0.
        vectors = [_vector(c, coefficient) for c in contrasts if sorted(c.plus) != sorted(c.minus)]
        rows += [other - vectors[0] for other in vectors[1:]]
    return rows


def _depth_tests(fit: RegressionResults, coefficient: dict[str, int], design: ExperimentDesign) -> tuple[FTest, ...]:
    """Per block (and its controls), then over all tested blocks: F-tests that the group effects are equal."""
    if len(design.groups) < 2:
        return ()
    tests, everything = [], []
    named = []
    for block in design.blocks:
        rows = _group_restrictions(design, coefficient, block, None)
        everything += rows
        named.append((block, rows))
        named += [
            (control_name(block, control, design.control), _group_restrictions(design, coefficient, block, control))
            for control in design.controls_of(block)
        ]
    if len(design.blocks) > 1:
        named.append(("all tested blocks", everything))
    for name, rows in named:
        independent = _independent(rows)
        if len(independent):  # a block whose effects are all the parent's own (nothing changed) has none to test
            tests.append(_f_test(fit, name, independent, design.alpha))
    if not tests:
        return ()
    p_holm = multipletests([t.p_value for t in tests], alpha=design.alpha, method="holm")[1]
    return tuple(
        dataclasses.replace(t, p_holm=float(p), rejects=bool(p < design.alpha))
        for t, p in zip(tests, p_holm, strict=True)
    )


def _noise(fit: RegressionResults, used: pd.DataFrame, alpha: float) -> ResidualNoise:
    """Residual sd with its 1 - alpha interval (dof·s²/sigma² follows chi-square with the residual dof), one arm's
    pooled sd across seeds and the intra-seed correlation."""
    dof = int(fit.df_resid)
    variance = float(fit.scale)
    low, high = analysis.sd_interval(variance, dof, confidence=1 - alpha)
    one_run = analysis.pooled_noise([group["psnr"].to_numpy() for _, group in used.groupby("arm")]).std_db
    return ResidualNoise(
        std_db=math.sqrt(variance), low_db=low, high_db=high, dof=dof, confidence=1 - alpha, one_run_db=one_run,
        intra_seed_correlation=analysis.intra_seed_correlation(math.sqrt(variance), one_run),
    )  # fmt: skip


def _arm_summaries(
    used: pd.DataFrame, design: ExperimentDesign, lost: list[int], activations: Mapping[str, int]
) -> tuple[ArmSummary, ...]:
    columns = ["psnr", *COUNTED_COSTS]
    values = used[columns].to_numpy(dtype=float)  # a cost not recorded is None: NaN here
    arms = used["arm"].to_numpy()
    summaries = []
    for index, arm in enumerate(design.arms):
        rows = values[arms == index]
        recorded = np.isfinite(rows)
        totals, counts = np.where(recorded, rows, 0.0).sum(axis=0), recorded.sum(axis=0)
        mean = np.divide(totals, counts, out=np.full(len(columns), np.nan), where=counts > 0)
        means = dict(zip(columns, mean, strict=True))
        roles = (arm.label, *(role_label(role, design.groups, design.control) for role in arm.also))
        costs = {cost: None if np.isnan(means[cost]) else float(means[cost]) for cost in COUNTED_COSTS}
        counted = activations.get(arm.genotype)
        summaries.append(ArmSummary(
            arm.label, arm.genotype, roles, len(rows), lost[index], float(means["psnr"]), **costs,
            activations=None if counted is None else float(counted),
        ))  # fmt: skip
    return tuple(summaries)


def verdict_lines(result: ExperimentResult) -> tuple[str, ...]:
    """The verdict in words, built from the numbers: design, test, noise, omnibus gate, then per block."""
    lines = [_design_line(result), _method_line(result), _noise_line(result.noise), _omnibus_line(result)]
    if not result.omnibus.rejects:
        equivalent = [e for e in result.effects if e.verdict == verdicts.NO_EFFECT]
        lines += [f"no effect: {_effect_text(e)}" for e in equivalent]
        return tuple(lines)
    depth = {t.name: t for t in result.depth_tests}
    for block in result.blocks:
        lines += _block_lines(result, block, depth)
    if "all tested blocks" in depth:
        lines.append(_depth_text("all tested blocks", depth["all tested blocks"]))
    return tuple(lines)


def _design_line(result: ExperimentResult) -> str:
    control = (
        f"capacity control {result.control!r} matched to the parameters each block adds to a slot"
        if result.control
        else "no capacity control"
    )
    mechanism = "; mechanism control: each block with its gate a learned constant" if result.mechanism else ""
    parent = (
        f"; every arm a change of the trained parent {result.parent} (proxy.init), fine-tuned the same way, the "
        "parent itself the reference"
        if result.parent
        else ""
    )
    gaps = "".join(f"; no {gap.control} control for {gap.block}: {gap.reason}" for gap in result.control_gaps)
    groups = ", ".join(group_text(g) for g in result.groups)
    losses = [f"{arm.label} {arm.lost}" for arm in result.arms if arm.lost]
    lost = f"; runs lost (failed or diverged): {', '.join(losses)}" if losses else ""
    return (
        f"Design: {len(result.arms)} arms x {len(result.seeds)} seeds, paired by seed ({result.runs_used} runs "
        f"used, {result.runs_ignored} ignored{lost}); blocks {', '.join(result.blocks)}; depth groups {groups}; "
        f"{control}{mechanism}{gaps}{parent}."
    )


def _method_line(result: ExperimentResult) -> str:
    basis, margin = result.interval, result.margin_db
    return (
        f"Test: OLS of PSNR on arm + seed (blocking factor); effects are contrasts with {basis.standard_errors}, "
        f"{basis.confidence:.0%} t intervals simultaneous over {basis.contrasts} contrasts (Bonferroni, alpha "
        f"{result.alpha:g}), Holm-adjusted p-values; helps/hurts: the interval excludes 0 (by at least the margin: "
        f"it also excludes ±{margin:g} dB); no effect: the interval lies within ±{margin:g} dB; the claim per block "
        "reads its group verdicts together; effect size differs across depth: F-test that a block's group effects "
        f"are equal (pooled variance; Holm over the {len(result.depth_tests)} depth tests). Beside each effect, "
        f"what its arms differ by: parameters, MACs and activations ({ACTIVATIONS}), for a {COST_HR_OUTPUT}."
    )


def _noise_line(noise: ResidualNoise) -> str:
    one_run = "" if noise.one_run_db is None else f"; one arm across seeds {noise.one_run_db:.3f} dB"
    correlation = "" if noise.intra_seed_correlation is None else (
        f", intra-seed correlation {noise.intra_seed_correlation:.2f}"
    )  # fmt: skip
    return (
        f"Noise of one run beyond its seed (residual of the blocked fit): {noise.std_db:.3f} dB "
        f"({noise.confidence:.0%} CI {noise.low_db:.3f} to {noise.high_db:.3f}, chi-square on {noise.dof} residual "
        f"degrees of freedom); a paired difference of two arms at one seed {noise.paired_difference_db:.3f} dB"
        f"{one_run}{correlation}."
    )


def power_basis(contrasts: int, alpha: float) -> str:
    """How every seed count the harness prints was computed."""
    return (
        f"a paired t-test of two arms at alpha {alpha:g}/{contrasts} (Bonferroni), {POWER:.0%} power, detected "
        "meaning the simultaneous interval excludes 0"
    )


def _omnibus_line(result: ExperimentResult) -> str:
    test = result.omnibus
    text = f"Omnibus F-test that all arm means are equal: F({test.df_num}, {test.df_denom}) = {test.f:.2f}, "
    text += f"p = {test.p_value:.3g}"
    if test.rejects:
        return text + f" < {result.alpha:g}: the arms differ; the effects follow."
    low, high = (seeds_text(n) for n in result.seeds_to_detect_margin_range)
    return (
        text + f" >= {result.alpha:g}: inconclusive at this budget: {seeds_text(result.seeds_to_detect_margin)} seeds "
        f"would detect {result.margin_db:g} dB ({power_basis(result.interval.contrasts, result.alpha)}; {low} to "
        f"{high} seeds over the noise's interval). No per-depth finding is named. The seed count is part of the "
        "design: a larger experiment on the same question is another look, and each look is tested at alpha / "
        "looks (experiment.looks)."
    )


def _effect_text(effect: DesignedEffect) -> str:
    numbers = f"{effect.estimate_db:+.3f} dB [{effect.low_db:+.3f}, {effect.high_db:+.3f}]"
    return f"{effect.label}: {numbers}{_cost_text(effect)}"


def _verdict_text(effect: DesignedEffect) -> str:
    withheld = f", no verdict: {effect.withheld}" if effect.withheld else ""
    numbers = f"{effect.estimate_db:+.3f} dB [{effect.low_db:+.3f}, {effect.high_db:+.3f}]"
    return f"{effect.verdict_text} ({numbers}{_cost_text(effect)}{withheld})"


def _cost_text(effect: DesignedEffect) -> str:
    """``; arms differ by +272 params, +0.04 G MACs, +1.2 M activations`` (what is known of it)."""
    parts = [
        f"{value / scale:+,.{digits}f}{unit}"
        for value, scale, digits, unit in (
            (effect.params_added, 1.0, 0, " params"),
            (effect.macs_added, 1e9, 2, " G MACs"),
            (effect.activations_added, 1e6, 1, " M activations"),
        )
        if value is not None
    ]
    return f"; arms differ by {', '.join(parts)}" if parts else ""


def _depth_text(name: str, test: FTest) -> str:
    numbers = f"F({test.df_num}, {test.df_denom}) = {test.f:.2f}, Holm p = {test.p_holm:.3g}"
    if test.rejects:
        return f"{name}: effect size differs across depth ({numbers})."
    return f"{name}: whether the effect size differs across depth is inconclusive ({numbers})."


def _block_lines(result: ExperimentResult, block: str, depth: dict[str, FTest]) -> list[str]:
    """Per block: the uniform effect, the claim per arm kind, the depth test, then per group every verdict."""
    effects = [e for e in result.effects if e.block == block]
    kinds = PARENT_KIND_PHRASES if result.parent else ARM_KIND_PHRASES
    phrases = {
        **{("attention", kind): phrase for kind, phrase in kinds.items()},
        **{("control", kind): f"capacity control {phrase}" for kind, phrase in kinds.items()},
        **{("attention - control", kind): f"over the capacity control {phrase}" for kind, phrase in kinds.items()},
        **{("mechanism", kind): f"mechanism control {phrase}" for kind, phrase in kinds.items()},
        **{("attention - mechanism", kind): f"over the mechanism control {phrase}" for kind, phrase in kinds.items()},
    }
    lines = []
    for e in (e for e in effects if e.kind == "uniform"):
        lines.append(f"{block} ({e.family}) at every depth: {_verdict_text(e)}.")
    for claim in (c for c in result.claims if c.block == block):
        lines.append(f"{block} {kinds[claim.kind]} at each depth group: **{claim.claim}** "
                     f"({', '.join(claim.groups)}).")  # fmt: skip
    if block in depth:
        lines.append(_depth_text(block, depth[block]))
    for group in range(len(result.groups)):
        parts = [f"{phrases[e.family, e.kind]} {_verdict_text(e)}" for e in effects if e.group == group]
        if parts:
            lines.append(f"{block} at depths {group_text(result.groups[group])}: " + "; ".join(parts) + ".")
    for found in (b for b in result.beyond if b.block == block and (b.shown or b.missing)):
        where = "at every depth" if found.group is None else (
            f"{kinds[found.kind]} at depths {group_text(result.groups[found.group])}"
        )  # fmt: skip
        how = "its effect and its effect over each control all help" if found.shown else ""
        lines.append(f"{block} {where}: {found.text}" + (f" ({how})." if how else "."))
    return lines
