"""The numbers behind the report: fronts, hypervolume, per-depth associations, seed noise (of one run and of a paired
difference).

Everything is computed from the study's trials as a pandas frame (one row per trial, as in trials.csv, plus
one column per depth ``d00, d01, ...`` with the block placed there). PSNR is maximised; costs are minimised.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
import statsmodels.api as sm
from scipy import stats

import blocks
from nas.core import genotypes, pareto
from nas.core.objectives import OBJECTIVES
from nas.study.records import COUNTED_OUTCOMES, Outcome, frame_row

CONFIDENCE = 0.95


def trials_frame(source: optuna.Study) -> pd.DataFrame:
    """One row per trial: trials.csv's columns, ``baseline``, ``device`` (with precision) and the per-depth blocks."""
    frame = pd.DataFrame([frame_row(trial) for trial in source.get_trials(deepcopy=False)])
    for column in (*OBJECTIVES, "ssim", "train_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def depth_columns(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame.columns if c.startswith("d") and c[1:].isdigit())


def complete(frame: pd.DataFrame) -> pd.DataFrame:
    """Trials with objective values (trained, or duplicates of a training)."""
    return frame[frame["state"] == "COMPLETE"]


def front_mask(frame: pd.DataFrame, objectives: list[str]) -> np.ndarray:
    """Which rows of ``frame`` (complete trials) are non-dominated in ``objectives`` (psnr first)."""
    values = frame[objectives].to_numpy(dtype=float)
    return pareto.nondominated(values, pareto.maximized(objectives))


@dataclass(frozen=True)
class Reference:
    """The hypervolume reference point: a PSNR floor and a cost ceiling, each with what it is (for the labels).

    ``nas.report.reference`` fixes both per space (bicubic PSNR, the space's cost limit), so one diverged trial
    does not move them and two studies of a space share them; ``reference_point`` is the data-dependent fallback.
    """

    psnr: float
    cost: float
    psnr_basis: str = "given"
    cost_basis: str = "given"


def reference_point(frame: pd.DataFrame, cost: str) -> Reference:
    """The worst PSNR and 5 % above the largest cost among the complete trials: moves with the data."""
    done = complete(frame)
    return Reference(float(done["psnr"].min()), float(done[cost].max()) * 1.05, "worst PSNR seen",
                     f"5 % above the largest {cost} seen")  # fmt: skip


def error_share_removed(psnrs: np.ndarray, reference_psnr: float) -> np.ndarray:
    """Share of the reference's mean squared error that a PSNR gain removes, 1 − 10^(−gain/10), in [0, 1)."""
    return np.clip(-np.expm1(-(psnrs - reference_psnr) * np.log(10) / 10), 0.0, 1.0)


def front_area(costs: np.ndarray, psnrs: np.ndarray, reference: Reference) -> float:
    """Hypervolume of a non-dominated set, normalised to [0, 1].

    Axes: PSNR as the share of the reference PSNR's squared error removed (``error_share_removed``), cost as
    1 − cost / reference cost; points below the PSNR floor or above the cost ceiling add nothing.
    """
    fractions = np.clip(costs / reference.cost, 0.0, 1.0)
    order = np.argsort(fractions, kind="stable")
    edges = np.append(fractions[order], 1.0)
    return float(np.sum(np.diff(edges) * error_share_removed(psnrs[order], reference.psnr)))


def hypervolume(points: pd.DataFrame, cost: str, reference: Reference) -> float:
    """Normalised hypervolume (``front_area``) dominated by ``points`` in PSNR and ``cost``."""
    front = points[front_mask(points, ["psnr", cost])]
    return front_area(front[cost].to_numpy(dtype=float), front["psnr"].to_numpy(dtype=float), reference)


def _running_front_area(costs: np.ndarray, psnrs: np.ndarray, reference: Reference) -> np.ndarray:
    """Hypervolume of the first k points, for every k, in one sweep linear in the points times the front's size:
    a new point either is dominated (the volume stays) or joins the front, which drops the points it dominates."""
    front_costs, front_psnrs = np.empty(0), np.empty(0)
    volume, volumes = 0.0, np.empty(len(costs))
    for index, (point_cost, point_psnr) in enumerate(zip(costs, psnrs, strict=True)):
        if not np.any((front_costs <= point_cost) & (front_psnrs >= point_psnr)):
            kept = (front_costs < point_cost) | (front_psnrs > point_psnr)
            front_costs = np.append(front_costs[kept], point_cost)
            front_psnrs = np.append(front_psnrs[kept], point_psnr)
            volume = front_area(front_costs, front_psnrs, reference)
        volumes[index] = volume
    return volumes


Point = tuple[float, float] | None  # a trial's (cost, PSNR); None for one without values (infeasible, failed)


def counted_points(frame: pd.DataFrame, cost: str) -> list[Point]:
    """The trials a study's total counts (finished, not interrupted: ``records.COUNTED_OUTCOMES``), in number
    order, as (cost, PSNR) points: what a curve over trials runs along, so that its k-th point is the k-th trial."""
    counted = frame[frame["outcome"].isin(COUNTED_OUTCOMES)].sort_values("number")
    return [
        (float(row[cost]), float(row["psnr"])) if row["state"] == "COMPLETE" else None for _, row in counted.iterrows()
    ]


def running_hypervolume(points: list[Point], reference: Reference) -> np.ndarray:
    """Hypervolume after each trial of a sequence of points (a trial without values keeps the volume)."""
    valued = [index for index, point in enumerate(points) if point is not None]
    values = np.array([points[index] for index in valued], dtype=float).reshape(-1, 2)
    volumes = np.zeros(len(points))
    for index, volume in zip(valued, _running_front_area(values[:, 0], values[:, 1], reference), strict=True):
        volumes[index:] = volume
    return volumes


def hypervolume_curve(frame: pd.DataFrame, cost: str, reference: Reference) -> pd.DataFrame:
    """Hypervolume after each of the study's counted trials (``counted_points``), for every count."""
    volumes = running_hypervolume(counted_points(frame, cost), reference)
    return pd.DataFrame({"trials": np.arange(1, len(volumes) + 1), "hypervolume": volumes})


@dataclass(frozen=True)
class SeedNoise:
    """PSNR spread of the same genotype trained with different seeds (the repeated baselines).

    ``std_db`` pools the within-genotype variances (``dof`` = runs − genotypes degrees of freedom); its
    ``CONFIDENCE`` interval is the chi-square interval of a normal standard deviation. ``robust_db`` is the
    median absolute within-genotype pairwise difference, scaled to a normal standard deviation: one bad run
    shifts it little. All are None with fewer than two seeds of any genotype: there is no noise estimate.
    """

    std_db: float | None
    low_db: float | None
    high_db: float | None
    dof: int
    robust_db: float | None
    genotypes: int
    runs: int

    def single_run_band_db(self) -> float | None:
        """Half-width within which two single runs of one genotype differ with ``CONFIDENCE``, at the upper end
        of the σ interval (so a difference inside it is not told apart from seed noise); None without noise."""
        if self.high_db is None:
            return None
        return float(stats.norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(2) * self.high_db)


def sd_interval(variance: float, dof: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The ``confidence`` interval of a normal standard deviation estimated as √``variance`` on ``dof`` degrees of
    freedom: dof·s²/σ² follows chi-square with ``dof`` degrees of freedom."""
    tail = (1 - confidence) / 2
    return (
        math.sqrt(dof * variance / stats.chi2.ppf(1 - tail, dof)),
        math.sqrt(dof * variance / stats.chi2.ppf(tail, dof)),
    )


def pooled_noise(groups: list[np.ndarray]) -> SeedNoise:
    """Seed noise from groups of PSNRs, one group per genotype (groups of one run carry no information)."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g) > 1]
    if not groups:
        return SeedNoise(None, None, None, 0, None, 0, 0)
    dof = sum(len(g) - 1 for g in groups)
    variance = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / dof
    low, high = sd_interval(variance, dof)
    pairs = [np.triu_indices(len(g), 1) for g in groups]
    differences = np.concatenate([g[first] - g[second] for g, (first, second) in zip(groups, pairs, strict=True)])
    # Both signs of every pairwise difference: the sample is symmetric about 0, so its MAD is the median absolute
    # difference, and a difference of two runs is N(0, 2σ²).
    symmetric = np.concatenate([differences, -differences])
    robust = float(stats.median_abs_deviation(symmetric, scale="normal")) / math.sqrt(2)
    return SeedNoise(math.sqrt(variance), low, high, dof, robust, len(groups), sum(len(g) for g in groups))


def seed_noise(frame: pd.DataFrame) -> SeedNoise:
    """Seed noise of the study: every genotype trained with more than one seed (the repeated baselines)."""
    trained = frame[frame["outcome"] == Outcome.TRAINED.value]
    return pooled_noise([g["psnr"].to_numpy() for _, g in trained.groupby("genotype") if g["seed"].nunique() > 1])


@dataclass(frozen=True)
class PairedNoise:
    """Noise of a paired difference: two genotypes trained with the same seed, which shares their initial weights
    in every common module and their patch stream (``nas.core.initial_weights``).

    Fitted on the repeated uniform baselines, ``uniform:none`` among them, as PSNR ~ baseline + seed (both
    categorical, OLS): the seed is a blocking factor, so the residual variance σ² is what one run adds beyond its
    seed, and a difference of two baselines at one seed has standard deviation ``std_db`` = √2·σ, with the
    chi-square ``CONFIDENCE`` interval on the fit's ``dof`` residual degrees of freedom. (Pooling each baseline's
    difference to ``uniform:none`` instead would count the ``uniform:none`` run's noise once per baseline.)
    ``correlation`` is the intra-seed correlation of two runs, 1 − σ² / (pooled variance of one baseline across
    seeds): the share of a run's variance its seed gives every genotype alike, which a paired difference cancels.
    All None without two baselines sharing two seeds (and a residual degree of freedom).
    """

    std_db: float | None
    low_db: float | None
    high_db: float | None
    dof: int
    correlation: float | None
    baselines: int
    runs: int

    def paired_band_db(self) -> float | None:
        """Half-width within which two genotypes' runs of one seed differ with ``CONFIDENCE`` when the genotypes
        are equally good, at the upper end of the interval; None without an estimate."""
        if self.high_db is None:
            return None
        return float(stats.norm.ppf(0.5 + CONFIDENCE / 2) * self.high_db)


def paired_noise(frame: pd.DataFrame) -> PairedNoise:
    """The paired-difference noise of the study's repeated uniform baselines (seeds blocked)."""
    trained = frame[(frame["outcome"] == Outcome.TRAINED.value) & frame["baseline"].notna()]
    runs = trained.groupby(["baseline", "seed"], as_index=False)["psnr"].mean()
    while len(runs):  # only runs that pair: a seed with two baselines, a baseline with two seeds, until both hold
        pairing = (runs.groupby("seed")["baseline"].transform("size") >= 2) & (
            runs.groupby("baseline")["seed"].transform("size") >= 2
        )
        if pairing.all():
            break
        runs = runs[pairing]
    none = PairedNoise(None, None, None, 0, None, 0, 0)
    if runs["baseline"].nunique() < 2:
        return none
    dummies = [pd.get_dummies(runs[name].astype(str), drop_first=True, dtype=float) for name in ("baseline", "seed")]
    exog = np.column_stack([np.ones(len(runs)), *(d.to_numpy() for d in dummies)])
    dof = len(runs) - int(np.linalg.matrix_rank(exog))
    if dof < 1:
        return none
    fit = sm.OLS(runs["psnr"].to_numpy(dtype=float), exog).fit()
    residual = float(fit.ssr) / dof
    low, high = sd_interval(2 * residual, dof)  # of the difference: twice the residual variance
    one_run = pooled_noise([g["psnr"].to_numpy() for _, g in runs.groupby("baseline")]).std_db
    correlation = intra_seed_correlation(math.sqrt(residual), one_run)
    return PairedNoise(math.sqrt(2 * residual), low, high, dof, correlation, runs["baseline"].nunique(), len(runs))


def intra_seed_correlation(residual_db: float, one_run_db: float | None) -> float | None:
    """The correlation of two runs of one seed, 1 − residual² / one_run²: ``residual_db`` is a run's noise beyond
    its seed (the blocked fit's residual sd), ``one_run_db`` its noise across seeds; None without the latter."""
    return 1 - (residual_db / one_run_db) ** 2 if one_run_db else None


@dataclass(frozen=True)
class PlacementEffects:
    """PSNR association of each block at each depth relative to ``none`` there, from an OLS fit on one-hot choices.

    Fitted on adaptively sampled search trials, these are associations, not effects: the sampler chose which
    combinations were trained from earlier noisy results. Effects come from designed experiments only.
    """

    table: pd.DataFrame  # depth, block, effect_db, low_db, high_db, count
    residual_std_db: float | None
    observations: int
    coefficients: int
    rank: int  # of the design: below ``coefficients`` when some choices always come together (confounded)


def placement_effects(frame: pd.DataFrame) -> PlacementEffects:
    """Regresses the PSNR of trained trials on per-depth one-hot block choices (``none`` is the baseline).

    Each coefficient is the PSNR difference associated with that block at that depth instead of ``none``, other
    depths held fixed, among the trials the search chose to train (not an effect). Its interval is simultaneous
    at ``CONFIDENCE`` over all coefficients (Bonferroni): a space has tens of them and a study a few dozen
    trainings, and per-coefficient 95 % intervals would exclude zero for some of them by chance alone. The seed
    is a blocking factor: every genotype of one seed shares its initial weights and patches, so a run of another
    seed (a repeated baseline) carries that seed's shift. With fewer trainings than coefficients the intervals are
    unknown (NaN).
    """
    trained = frame[frame["outcome"] == Outcome.TRAINED.value]
    columns: list[tuple[str, str]] = []
    for depth in depth_columns(frame):
        blocks_here = sorted(set(trained[depth].dropna()))
        columns += [(depth, b) for b in blocks_here if b != blocks.NO_ATTENTION]
    seeds = pd.get_dummies(trained["seed"].astype(str), drop_first=True, dtype=float).to_numpy()
    one_hot = [(trained[d] == b).to_numpy(dtype=float) for d, b in columns]
    design = np.column_stack([np.ones(len(trained)), *one_hot, seeds])
    target = trained["psnr"].to_numpy(dtype=float)
    coefficients, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    dof = len(target) - rank
    residual_std = None
    half_widths = np.full(len(columns), np.nan)
    if columns and dof > 0 and rank == design.shape[1]:  # with no attention trained yet there is nothing to fit
        residuals = target - design @ coefficients
        residual_std = float(np.sqrt(residuals @ residuals / dof))
        covariance = residual_std**2 * np.linalg.inv(design.T @ design)
        t_value = stats.t.ppf(1 - (1 - CONFIDENCE) / (2 * len(columns)), dof)
        half_widths = t_value * np.sqrt(np.diag(covariance))[1 : 1 + len(columns)]
    rows = []
    for (depth, block), effect, half in zip(columns, coefficients[1 : 1 + len(columns)], half_widths, strict=True):
        count = int((trained[depth] == block).sum())
        rows.append({"depth": genotypes.depth_index(depth), "block": block, "effect_db": float(effect),
                     "low_db": float(effect - half), "high_db": float(effect + half), "count": count})  # fmt: skip
    table = pd.DataFrame(rows, columns=["depth", "block", "effect_db", "low_db", "high_db", "count"])
    return PlacementEffects(table, residual_std, len(target), design.shape[1], int(rank))


def attention_frequency(frame: pd.DataFrame, front: pd.DataFrame) -> pd.DataFrame:
    """Share of trials with attention (any block but ``none``) at each depth: on the front and over all."""
    depths = depth_columns(frame)
    done = complete(frame)
    return pd.DataFrame({
        "depth": [genotypes.depth_index(d) for d in depths],
        "front": [float((front[d] != blocks.NO_ATTENTION).mean()) if len(front) else math.nan for d in depths],
        "all": [float((done[d] != blocks.NO_ATTENTION).mean()) if len(done) else math.nan for d in depths],
    })  # fmt: skip


def depth_importance(source: optuna.Study) -> dict[str, float] | None:
    """PED-ANOVA importance of each depth's choice for PSNR; None when Optuna cannot compute it yet."""
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # its reminder that low targets count as good
            # PED-ANOVA explains what separates the lowest target values: negate PSNR, which is maximised.
            return optuna.importance.get_param_importances(source, evaluator=evaluator, target=lambda t: -t.values[0])
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None


@dataclass(frozen=True)
class FrontShares:
    """Where the front's points come from, on the same trials (every seed) as the front itself."""

    mixed_on_front: int  # front points (runs) of mixed placements
    uniform_on_front: int  # front points (runs) of uniform placements
    uniform_runs: int  # runs of uniform placements (every seed)
    uniform_dominated: int  # of those, runs dominated by some mixed run
    volume_all: float  # normalised hypervolume of all runs, mixed runs only, uniform runs only
    volume_mixed: float
    volume_uniform: float


def front_shares(done: pd.DataFrame, cost: str, reference: Reference) -> FrontShares:
    """Front membership and hypervolume shares of mixed and uniform placements (complete trials, every seed)."""
    runs = done.drop_duplicates(["genotype", "seed"])  # a duplicate repeats a recorded run: one point
    is_uniform = runs["genotype"].isin(set(runs.loc[runs["baseline"].notna(), "genotype"]))
    uniform, mixed = runs[is_uniform], runs[~is_uniform]
    on_front = front_mask(runs, ["psnr", cost])
    mixed_points = mixed[["psnr", cost]].to_numpy(dtype=float)
    dominated = sum(
        bool(np.any((mixed_points[:, 0] >= psnr) & (mixed_points[:, 1] <= value)
                    & ((mixed_points[:, 0] > psnr) | (mixed_points[:, 1] < value))))
        for psnr, value in uniform[["psnr", cost]].to_numpy(dtype=float)
    )  # fmt: skip
    return FrontShares(
        mixed_on_front=int((on_front & ~is_uniform.to_numpy()).sum()),
        uniform_on_front=int((on_front & is_uniform.to_numpy()).sum()),
        uniform_runs=len(uniform),
        uniform_dominated=dominated,
        volume_all=hypervolume(runs, cost, reference),
        volume_mixed=hypervolume(mixed, cost, reference) if len(mixed) else 0.0,
        volume_uniform=hypervolume(uniform, cost, reference) if len(uniform) else 0.0,
    )


def cost_bands(frame: pd.DataFrame, cost: str, bands: int = 3) -> list[dict]:
    """Per cost band (quantiles of the complete trials' cost): the best run and the best uniform run, of the best
    run's seed where the band has one (a paired comparison: one seed shifts every genotype alike), else of any seed.

    Both are single-run maxima over adaptively chosen trials: they carry the search's optimism (winner's curse).
    """
    done = complete(frame).drop_duplicates(["genotype", "seed"])
    if done.empty:
        return []
    edges = np.quantile(done[cost], np.linspace(0, 1, bands + 1))
    result = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = done[(done[cost] >= low) & (done[cost] <= high)]
        if inside.empty:
            continue
        best = inside.loc[inside["psnr"].idxmax()]
        uniform = inside[inside["baseline"].notna()]
        if (uniform["seed"] == best["seed"]).any():
            uniform = uniform[uniform["seed"] == best["seed"]]
        best_uniform = uniform.loc[uniform["psnr"].idxmax()] if not uniform.empty else None
        result.append({"low": float(low), "high": float(high), "best": best, "best_uniform": best_uniform})
    return result
