"""The numbers behind the report: fronts, hypervolume, per-depth placement effects, seed noise, verdict.

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
from scipy import stats

from nas.core import genotypes, pareto
from nas.search.records import Outcome, frame_row

CONFIDENCE = 0.95
REFERENCE_BLOCK = "none"


def trials_frame(source: optuna.Study) -> pd.DataFrame:
    """One row per trial: trials.csv's columns, ``baseline``, ``device`` (with precision) and the per-depth blocks."""
    frame = pd.DataFrame([frame_row(trial) for trial in source.get_trials(deepcopy=False)])
    for column in ("psnr", "ssim", "macs", "params", "latency_ms", "train_seconds"):
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
    """The hypervolume reference point: the worst PSNR seen and 5 % above the largest cost seen."""

    psnr: float
    cost: float


def reference_point(frame: pd.DataFrame, cost: str) -> Reference:
    done = complete(frame)
    return Reference(float(done["psnr"].min()), float(done[cost].max()) * 1.05)


def front_area(costs: np.ndarray, psnrs: np.ndarray, reference: Reference) -> float:
    """Area a non-dominated set dominates, in (PSNR dB × cost as a fraction of the reference cost)."""
    order = np.argsort(costs)
    edges = np.append(costs[order], reference.cost) / reference.cost
    gains = np.clip(psnrs[order] - reference.psnr, 0.0, None)
    return float(np.sum(np.diff(edges) * gains))


def hypervolume(points: pd.DataFrame, cost: str, reference: Reference) -> float:
    """Area dominated by ``points`` in (PSNR dB × cost as a fraction of the reference cost)."""
    front = points[front_mask(points, ["psnr", cost])]
    return front_area(front[cost].to_numpy(dtype=float), front["psnr"].to_numpy(dtype=float), reference)


def hypervolume_curve(frame: pd.DataFrame, cost: str) -> pd.DataFrame:
    """Hypervolume of the complete trials among the first k trials (by number), for every k.

    One sweep in trial order, linear in the trials times the front's size: a new trial either is dominated
    (the volume stays) or joins the front, which drops the points it dominates.
    """
    reference = reference_point(frame, cost)
    done = complete(frame).sort_values("number")
    front_costs, front_psnrs = np.empty(0), np.empty(0)
    volume, volumes = 0.0, []
    for trial_cost, trial_psnr in done[[cost, "psnr"]].to_numpy(dtype=float):
        if not np.any((front_costs <= trial_cost) & (front_psnrs >= trial_psnr)):
            kept = (front_costs < trial_cost) | (front_psnrs > trial_psnr)
            front_costs = np.append(front_costs[kept], trial_cost)
            front_psnrs = np.append(front_psnrs[kept], trial_psnr)
            volume = front_area(front_costs, front_psnrs, reference)
        volumes.append(volume)
    return pd.DataFrame({"trials": done["number"].to_numpy() + 1, "hypervolume": volumes})


@dataclass(frozen=True)
class SeedNoise:
    """PSNR spread of the same genotype trained with different seeds (the repeated baselines)."""

    std_db: float | None  # pooled standard deviation; None with a single seed
    genotypes: int
    runs: int


def seed_noise(frame: pd.DataFrame) -> SeedNoise:
    trained = frame[frame["outcome"] == Outcome.TRAINED.value]
    groups = [g["psnr"].to_numpy() for _, g in trained.groupby("genotype") if g["seed"].nunique() > 1]
    if not groups:
        return SeedNoise(None, 0, 0)
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    return SeedNoise(math.sqrt(squares / dof), len(groups), sum(len(g) for g in groups))


@dataclass(frozen=True)
class PlacementEffects:
    """PSNR effect of each block at each depth relative to ``none`` there, from an OLS fit on one-hot choices."""

    table: pd.DataFrame  # depth, block, effect_db, low_db, high_db, count
    residual_std_db: float | None
    observations: int
    coefficients: int


def placement_effects(frame: pd.DataFrame) -> PlacementEffects:
    """Regresses the PSNR of trained trials on per-depth one-hot block choices (``none`` is the baseline).

    Each effect is the expected PSNR change from putting that block at that depth instead of ``none``, other
    depths held fixed. Its interval is simultaneous at ``CONFIDENCE`` over all effects (Bonferroni): a space
    has tens of effects and a study a few dozen trainings, and per-effect 95 % intervals would exclude zero
    for some of them by chance alone. With fewer trainings than coefficients the intervals are unknown (NaN).
    """
    trained = frame[frame["outcome"] == Outcome.TRAINED.value]
    columns: list[tuple[str, str]] = []
    for depth in depth_columns(frame):
        blocks_here = sorted(set(trained[depth].dropna()))
        columns += [(depth, b) for b in blocks_here if b != REFERENCE_BLOCK]
    design = np.column_stack([np.ones(len(trained))] + [(trained[d] == b).to_numpy(dtype=float) for d, b in columns])
    target = trained["psnr"].to_numpy(dtype=float)
    coefficients, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    dof = len(target) - rank
    residual_std = None
    half_widths = np.full(len(columns), np.nan)
    if dof > 0 and rank == design.shape[1]:
        residuals = target - design @ coefficients
        residual_std = float(np.sqrt(residuals @ residuals / dof))
        covariance = residual_std**2 * np.linalg.inv(design.T @ design)
        t_value = stats.t.ppf(1 - (1 - CONFIDENCE) / (2 * len(columns)), dof)
        half_widths = t_value * np.sqrt(np.diag(covariance))[1:]
    rows = []
    for (depth, block), effect, half in zip(columns, coefficients[1:], half_widths, strict=True):
        count = int((trained[depth] == block).sum())
        rows.append({"depth": genotypes.depth_index(depth), "block": block, "effect_db": float(effect),
                     "low_db": float(effect - half), "high_db": float(effect + half), "count": count})  # fmt: skip
    table = pd.DataFrame(rows, columns=["depth", "block", "effect_db", "low_db", "high_db", "count"])
    return PlacementEffects(table, residual_std, len(target), design.shape[1])


def attention_frequency(frame: pd.DataFrame, front: pd.DataFrame) -> pd.DataFrame:
    """Share of trials with attention (any block but ``none``) at each depth: on the front and over all."""
    depths = depth_columns(frame)
    done = complete(frame)
    return pd.DataFrame({
        "depth": [genotypes.depth_index(d) for d in depths],
        "front": [float((front[d] != REFERENCE_BLOCK).mean()) if len(front) else math.nan for d in depths],
        "all": [float((done[d] != REFERENCE_BLOCK).mean()) if len(done) else math.nan for d in depths],
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


def depth_verdicts(effects: PlacementEffects, noise_db: float | None) -> list[tuple[int, str, str]]:
    """(depth, helps|hurts|no measurable difference, evidence) for every depth with estimated effects.

    A block helps (hurts) at a depth when its whole (simultaneous) confidence interval is above (below) zero
    and its effect exceeds the seed noise, when that is known.
    """
    verdicts = []
    threshold = noise_db or 0.0
    for depth, rows in effects.table.groupby("depth"):
        helping = rows[(rows["low_db"] > 0) & (rows["effect_db"] > threshold)]
        hurting = rows[(rows["high_db"] < 0) & (rows["effect_db"] < -threshold)]
        if helping.empty and hurting.empty:
            verdicts.append((int(depth), "no measurable difference", ""))
            continue
        parts = []
        if not helping.empty:
            parts.append("helps: " + ", ".join(_effect_text(r) for _, r in helping.iterrows()))
        if not hurting.empty:
            parts.append("hurts: " + ", ".join(_effect_text(r) for _, r in hurting.iterrows()))
        kind = "depends on the block" if len(parts) == 2 else "helps" if not helping.empty else "hurts"
        verdicts.append((int(depth), kind, "; ".join(parts)))
    return verdicts


def _effect_text(row: pd.Series) -> str:
    return f"{row['block']} {row['effect_db']:+.3f} dB [{row['low_db']:+.3f}, {row['high_db']:+.3f}]"


def cost_bands(frame: pd.DataFrame, cost: str, bands: int = 3) -> list[dict]:
    """Per cost band (quantiles of the complete trials' cost): the best trial and the best uniform placement."""
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
        best_uniform = uniform.loc[uniform["psnr"].idxmax()] if not uniform.empty else None
        result.append({"low": float(low), "high": float(high), "best": best, "best_uniform": best_uniform})
    return result
