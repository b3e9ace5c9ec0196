"""The effects of a designed attention-placement experiment, read per contrast and paired by seed.

Every arm of the design (``nas.core.experiment_design``) is trained with every seed, and a seed is one stream of
common random numbers shared by every arm, so the runs of one seed are correlated, and how strongly depends on how
alike two genotypes are. The analysis therefore never pools a variance across contrasts:

- **Effects** are contrasts of arms: ``attention`` effects of block X (``uniform - none``, ``only g - none``,
  ``uniform - drop g``; with a trained parent, ``only g - parent`` and ``parent - drop g``), the same of its
  capacity control (``control``) and its mechanism control (``mechanism``), and attention minus each control's
  effect (``attention - control``, ``attention - mechanism``); in place of a trained parent's block, also its
  freshness control's (``freshness``, ``attention - freshness``) and the fresh block minus its fresh capacity control
  (``freshness - control``). Each is the mean over seeds of its *per-seed
  contrast* (the contrast's arm weights applied to one seed's PSNRs), with a t interval on seeds - 1 degrees of
  freedom at 1 - alpha/K, K every effect reported (Bonferroni: valid whatever the dependence between contrasts),
  and p-values Holm-adjusted over the same K. A paired t needs the per-seed contrasts i.i.d., not equal variances
  across arms, so a noisy arm widens only the contrasts it is in. Seeds that lost a run of one of the contrast's
  arms are left out of it (it says how many it used), and an effect whose arms lost different numbers of runs
  gets no verdict: the runs left are not a random sample of what was designed.
- **Verdict words** (``nas.report.verdicts``) read the simultaneous interval only.
- **Claims**: per block and arm kind the group verdicts read together (``verdicts.claim``); **helps beyond
  capacity**: the intersection-union test over attention - none and attention - each control (with a freshness
  control, fresh block - fresh capacity control in place of attention - the capacity control).
- **Depth tests**: whether a block's effect differs across depth groups is Hotelling's T² on the per-seed vectors
  of its group-effect differences (every group's effect minus the first's, both arm kinds), per block and control
  and over all tested blocks, Holm over the tests run. It needs more seeds than differences; where there are not,
  the test is named as not run and why.
- **Noise and seeds per family**: per family of contrasts (attention alone at a group, on top of the rest, at
  every depth, against each control ...) the paired sd of its per-seed contrasts with its interval, and the seeds
  that would detect the margin at that sd (``nas.core.power``).
- **Sensitivity**: the pooled OLS fit PSNR ~ arm + seed (``nas.report.experiment_pooled``) is fitted beside it and
  its verdicts compared; it is never the verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from nas.core.experiment_design import CAPACITY, FRESHNESS, MECHANISM, ControlGap, ExperimentDesign, group_text
from nas.core.objectives import COUNTED_COSTS
from nas.core.power import seeds_needed_or_none
from nas.json_values import jsonable
from nas.report import verdicts
from nas.report.confirmation_statistics import t_interval
from nas.report.experiment_contrasts import (
    CONTROL_FAMILIES,
    CONTROL_OVER_REMOVAL,
    FAMILIES,
    FRESH_OVER_CONTROL,
    Contrast,
    PlannedEffect,
)
from nas.report.experiment_depth import DepthTest
from nas.report.experiment_runs import ArmSummary, ExperimentDataError, SeedTable, short_of_gain

ARM_COSTS = (*COUNTED_COSTS, "activations")  # what every effect says its arms differ by (``DesignedEffect``)
CONTROL_NAMES = {CAPACITY: "capacity control", MECHANISM: "mechanism control", FRESHNESS: "freshness control"}
VERDICTS = (verdicts.HELPS, verdicts.HURTS, verdicts.NO_EFFECT, verdicts.INCONCLUSIVE, verdicts.NOT_DRAWN)
ARM_KIND_PHRASES = {"only": "alone", "drop": "on top of the rest"}  # what a group effect of each arm kind measures
# The same in a design of changes to a trained parent (``ExperimentDesign.parent``), each fine-tuned.
PARENT_KIND_PHRASES = {"only": "in place of the parent's blocks", "drop": "on top of the rest of the parent"}
# How a family of contrasts is named where seeds are sized for it (``FamilyNoise``).
FAMILY_WORDS = {
    "attention": "attention",
    "control": "capacity control",
    "attention - control": "attention over the capacity control",
    "mechanism": "mechanism control",
    "attention - mechanism": "attention over the mechanism control",
    "freshness": "freshness control",
    "attention - freshness": "the trained block over its freshness control",
    FRESH_OVER_CONTROL: "the fresh block over its fresh capacity control",
    CONTROL_OVER_REMOVAL: "the fresh capacity control over the removal",
}
SCRATCH_KIND_WORDS = {"uniform": "at every depth", "only": "alone at a group", "drop": "on top of the rest at a group"}
PARENT_KIND_WORDS = {"only": "in place of the parent's blocks at a group", "drop": "removed from the parent at a group"}


@dataclass(frozen=True)
class IntervalBasis:
    """What every effect interval is over and how it was adjusted."""

    confidence: float  # simultaneous (family-wise) level
    per_interval: float  # level of each interval: 1 - alpha/contrasts
    adjustment: str
    contrasts: int
    over: str
    method: str


@dataclass(frozen=True)
class DesignedEffect:
    """One contrast, in dB: the mean of its per-seed contrast, with its simultaneous interval, tests and verdict."""

    block: str
    family: str  # one of FAMILIES
    kind: str  # uniform, only or drop
    group: int | None
    label: str
    estimate_db: float
    low_db: float
    high_db: float
    seeds: int  # seeds whose runs of every arm of the contrast trained
    paired_sd_db: float  # sd over those seeds of the per-seed contrast
    dof: int  # the t interval's degrees of freedom: seeds - 1
    p_value: float
    p_holm: float
    verdict: str  # helps | hurts | no effect | inconclusive | not drawn
    size: str | None  # helps / hurts: by at least / by less than the margin, where the interval settles it
    # Why no verdict is drawn though the interval would allow one: its arms have not learned (``not drawn``), or
    # lost runs unequally (``inconclusive``).
    withheld: str | None
    # What the compared arms differ by (the plus arms' minus the minus arms'); None where an arm's is unknown.
    params_added: float | None = None
    macs_added: float | None = None
    activations_added: float | None = None

    @property
    def verdict_text(self) -> str:
        return verdicts.Verdict(self.verdict, self.size).text()


@dataclass(frozen=True)
class FamilyNoise:
    """The noise of one family of contrasts, contrast by contrast: the spread of their paired sds (one contrast's
    sd over seeds of its per-seed values), the seeds that would detect an effect the size of the margin at the
    median and at each end of that spread, one arm's sd across seeds and the intra-seed correlation.

    Contrasts of one family can differ a hundredfold in noise (an unstable arm widens only the contrasts it is in),
    so no single sd, and no interval built as if they shared one, stands for the family.
    """

    family: str  # in words: "attention alone at a group"
    key: tuple[str, str]  # (family, arm kind) of its effects
    contrasts: int
    median_sd_db: float
    low_sd_db: float  # the calmest contrast's
    high_sd_db: float  # the noisiest contrast's
    noisiest: str  # that contrast's label
    seeds_for_margin: int | None  # at the median sd; None: more than nas.core.power.MAX_SEEDS
    seeds_for_margin_range: tuple[int | None, int | None]  # at the calmest and the noisiest contrast
    one_run_sd_db: float  # the median over the family's arms of one arm's sd across seeds
    intra_seed_correlation: float | None  # median over its two-arm contrasts: 1 - sd(a - b)² / (sd(a)² + sd(b)²)


@dataclass(frozen=True)
class BeyondCapacity:
    """Whether block X helps beyond capacity at one arm kind and group (an intersection-union test)."""

    block: str
    kind: str
    group: int | None
    shown: bool  # attention - none and its effect over each control (``beyond_capacity``) all read helps
    missing: tuple[str, ...]  # the controls X has no arms of here (then it cannot be shown)
    text: str


@dataclass(frozen=True)
class BlockClaim:
    """A2N's claim for one block and arm kind: its group verdicts read together (``verdicts.claim``)."""

    block: str
    kind: str  # only (the block alone at each group) or drop (the block at each group on top of the rest)
    claim: str  # depth-selective | helps/hurts everywhere | no effect anywhere | inconclusive | not drawn
    groups: tuple[str, ...]  # each group's verdict, in group order


@dataclass(frozen=True)
class PooledDisagreement:
    """An effect the pooled fit would word otherwise than the paired analysis."""

    label: str
    paired: str
    pooled: str
    pooled_low_db: float
    pooled_high_db: float


@dataclass(frozen=True)
class PooledSensitivity:
    """The pooled OLS fit PSNR ~ arm + seed beside the paired analysis: its noise and where its words differ."""

    method: str
    residual_sd_db: float
    residual_dof: int
    disagreements: tuple[PooledDisagreement, ...]


@dataclass(frozen=True)
class ExperimentResult:
    """Everything ``analyse`` found, with the verdict in words; ``to_json()`` gives plain JSON values."""

    blocks: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    seeds: tuple[int, ...]
    margin_db: float
    min_gain_db: float  # the gain over bicubic every arm behind a verdict must reach (proxy.min_gain_db)
    alpha: float
    control: str | None
    parent: str | None  # the trained parent every arm changes (proxy.init); None: from scratch
    mechanism: bool
    control_matches: tuple[tuple[str, str], ...]  # per block with a capacity control, how it matches
    control_gaps: tuple[ControlGap, ...]  # the controls a block could not get, and why
    runs_used: int
    runs_ignored: int
    arms: tuple[ArmSummary, ...]
    interval: IntervalBasis
    effects: tuple[DesignedEffect, ...]
    claims: tuple[BlockClaim, ...]
    beyond: tuple[BeyondCapacity, ...]
    depth_tests: tuple[DepthTest, ...]
    noise: tuple[FamilyNoise, ...]
    pooled: PooledSensitivity
    verdict: tuple[str, ...]

    def to_json(self) -> dict:
        """A dict of JSON values (lists, not tuples) that ``json.loads(json.dumps(...))`` returns unchanged."""
        return jsonable(asdict(self))

    def effects_frame(self) -> pd.DataFrame:
        """One row per effect (the fields of ``DesignedEffect``)."""
        return pd.DataFrame([asdict(e) for e in self.effects], columns=list(DesignedEffect.__dataclass_fields__))


@dataclass(frozen=True)
class PairedInterval:
    """One per-seed contrast summarised: its mean, sd, seeds, simultaneous t interval and raw p-value."""

    estimate: float
    sd: float
    seeds: int
    low: float
    high: float
    p_value: float


def paired_interval(values: np.ndarray, level: float) -> PairedInterval:
    """The t interval at ``1 - level`` of the mean of ``values`` (one per seed: a confirmation's paired interval,
    ``confirmation_statistics.t_interval``) and its two-sided p-value from scipy's one-sample t-test; runs without
    noise (every seed the same contrast) give a point and p 0 (or 1 at 0)."""
    seeds = len(values)
    if seeds < 2:
        raise ExperimentDataError(f"a contrast has {seeds} seed(s) complete in all its arms; it needs at least two")
    estimate = float(np.mean(values))
    low, high = (float(end) for end in t_interval(values, level))
    if np.ptp(values) == 0:  # scipy's t is 0/0 here
        return PairedInterval(estimate, 0.0, seeds, low, high, 1.0 if estimate == 0 else 0.0)
    p_value = float(stats.ttest_1samp(values, 0.0).pvalue)
    return PairedInterval(estimate, float(np.std(values, ddof=1)), seeds, low, high, p_value)


def score(
    table: SeedTable,
    planned: list[PlannedEffect],
    design: ExperimentDesign,
    lost: list[int],
    arms: tuple[ArmSummary, ...],
) -> tuple[DesignedEffect, ...]:
    """Estimates, simultaneous paired intervals, Holm p-values and verdicts of every effect, with what its arms
    differ by in cost."""
    level = design.alpha / len(planned)
    intervals = [paired_interval(table.per_seed(p.contrast.weights(len(design.arms))), level) for p in planned]
    p_holm = multipletests([i.p_value for i in intervals], alpha=design.alpha, method="holm")[1]
    scored = []
    for p, interval, adjusted in zip(planned, intervals, p_holm, strict=True):
        verdict = verdicts.classify(interval.low, interval.high, design.margin_db)
        unlearned = short_of_gain(arms, p.contrast.plus + p.contrast.minus, design)
        withheld = unlearned or _unequal_losses(p.contrast, lost, design)
        if withheld:
            verdict = verdicts.Verdict(verdicts.NOT_DRAWN if unlearned else verdicts.INCONCLUSIVE)
        costs = {f"{cost}_added": _cost_added(p.contrast, arms, cost) for cost in ARM_COSTS}
        scored.append(
            DesignedEffect(
                block=p.block,
                family=p.family,
                kind=p.kind,
                group=p.group,
                label=p.label,
                estimate_db=interval.estimate,
                low_db=interval.low,
                high_db=interval.high,
                seeds=interval.seeds,
                paired_sd_db=interval.sd,
                dof=interval.seeds - 1,
                p_value=interval.p_value,
                p_holm=float(adjusted),
                verdict=verdict.word,
                size=verdict.size,
                withheld=withheld,
                **costs,
            )
        )
    return tuple(scored)


def _cost_added(contrast: Contrast, arms: tuple[ArmSummary, ...], cost: str) -> float | None:
    """The plus arms' ``cost`` minus the minus arms'; None where an arm's is unknown."""
    values = [getattr(arms[arm], cost) for arm in contrast.plus + contrast.minus]
    if any(value is None for value in values):
        return None
    return sum(values[: len(contrast.plus)]) - sum(values[len(contrast.plus) :])


def _unequal_losses(contrast: Contrast, lost: list[int], design: ExperimentDesign) -> str | None:
    """Why the contrast gets no verdict: its arms lost different numbers of runs; None when they did not."""
    arms = contrast.plus + contrast.minus
    if len({lost[arm] for arm in arms}) <= 1:
        return None
    counts = ", ".join(f"{design.arms[arm].label} {lost[arm]}" for arm in arms)
    return f"its arms lost different numbers of runs (failed or diverged: {counts} of {len(design.seeds)})"


def claims(scored: tuple[DesignedEffect, ...], design: ExperimentDesign) -> tuple[BlockClaim, ...]:
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


def beyond_capacity(scored: tuple[DesignedEffect, ...], design: ExperimentDesign) -> tuple[BeyondCapacity, ...]:
    """Per block, arm kind and group where attention helps: whether it helps beyond capacity, i.e. beyond the
    capacity and the mechanism control (an intersection-union test), or which control is missing to show it. Where a
    trained parent's block has a freshness control, the capacity leg is the fresh block over its fresh capacity
    control, so that neither side of it starts trained."""
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
        families = {c: f"attention - {f}" for c, f in CONTROL_FAMILIES.items() if c != FRESHNESS}
        if (block, FRESH_OVER_CONTROL, over_kind, group) in by_key:  # capacity on equal footing: both start fresh
            families[CAPACITY] = FRESH_OVER_CONTROL
        over = {c: by_key.get((block, family, over_kind, group)) for c, family in families.items()}
        missing = tuple(CONTROL_NAMES[c] for c, e in over.items() if e is None)
        legs = [_verdict(e) for e in over.values() if e is not None]
        shown = not missing and verdicts.beyond(_verdict(effect), legs)
        found.append(BeyondCapacity(block, kind, group, shown, missing, verdicts.beyond_text(shown, missing)))
    return tuple(found)


def _verdict(effect: DesignedEffect) -> verdicts.Verdict:
    return verdicts.Verdict(effect.verdict, effect.size)


def family_noise(
    scored: tuple[DesignedEffect, ...],
    arms: tuple[ArmSummary, ...],
    planned: list[PlannedEffect],
    design: ExperimentDesign,
) -> tuple[FamilyNoise, ...]:
    """Per family of contrasts (family and arm kind), the spread of its contrasts' paired sds with the seeds that
    would detect an effect the size of the margin at its median and at each end, beside one arm's sd across seeds and
    the intra-seed correlation of its two-arm contrasts."""
    words = PARENT_KIND_WORDS if design.parent else SCRATCH_KIND_WORDS

    def seeds_for(paired_sd: float) -> int | None:
        return seeds_needed_or_none(paired_sd, design.margin_db, len(scored), design.alpha)

    found = []
    for family in FAMILIES:
        for kind in words:
            members = [(e, p) for e, p in zip(scored, planned, strict=True) if (e.family, e.kind) == (family, kind)]
            if not members:
                continue
            sds = np.array([e.paired_sd_db for e, _ in members])
            noisiest = members[int(np.argmax(sds))][0].label
            involved = sorted({arm for _, p in members for arm in p.contrast.plus + p.contrast.minus})
            one_run = float(np.median([arms[arm].psnr_sd_db for arm in involved]))
            pairs = [
                _correlation(e.paired_sd_db, arms[p.contrast.plus[0]], arms[p.contrast.minus[0]])
                for e, p in members
                if len(p.contrast.plus) == len(p.contrast.minus) == 1
            ]
            correlation = float(np.median(pairs)) if pairs else None
            median, low, high = float(np.median(sds)), float(sds.min()), float(sds.max())
            found.append(
                FamilyNoise(
                    f"{FAMILY_WORDS[family]} {words[kind]}",
                    (family, kind),
                    len(members),
                    median,
                    low,
                    high,
                    noisiest,
                    seeds_for(median),
                    (seeds_for(low), seeds_for(high)),
                    one_run,
                    correlation,
                )  # fmt: skip
            )
    return tuple(found)


def _correlation(paired_sd: float, first: ArmSummary, second: ArmSummary) -> float:
    """The intra-seed correlation of two arms' runs, from the sd of their per-seed difference and each arm's sd."""
    spread = first.psnr_sd_db**2 + second.psnr_sd_db**2
    return 1.0 - paired_sd**2 / spread if spread > 0 else 1.0
