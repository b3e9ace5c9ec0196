"""The pooled fit of a designed experiment, kept beside the paired analysis as a sensitivity check, never the verdict.

OLS of PSNR on arm + seed (both categorical: the seed a blocking factor), effects as contrasts of the arm
coefficients with HC2 standard errors and Bell-McCaffrey degrees of freedom, t intervals at the same simultaneous
level. It assumes residuals independent of how alike two genotypes are, which common random numbers make false:
with them, arms that share most modules move together at a seed (their contrast's noise is far below the pooled
residual's) and arms that share few do not, so the pooled intervals are too wide for calm contrasts and too narrow
for noisy ones. ``sensitivity`` says where its verdict words would differ from the paired analysis's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.regression.linear_model import RegressionResults

from nas.core.experiment_design import ExperimentDesign
from nas.report import verdicts
from nas.report.experiment_contrasts import PlannedEffect
from nas.report.experiment_effects import DesignedEffect, PooledDisagreement, PooledSensitivity

METHOD = (
    "OLS of PSNR on arm + seed (seed a blocking factor), HC2 standard errors, t on each contrast's Bell-McCaffrey "
    "degrees of freedom, at the same simultaneous level"
)


def sensitivity(
    used: pd.DataFrame, design: ExperimentDesign, planned: list[PlannedEffect], scored: tuple[DesignedEffect, ...]
) -> PooledSensitivity:
    """The pooled fit's verdict of every effect against the paired analysis's (``scored``, in ``planned`` order):
    the effects whose words differ (an effect withheld for unequal losses is left out: neither reads it)."""
    fit = fit_of(used, len(design.arms))
    arms = len(design.arms)
    padding = np.zeros(fit.model.exog.shape[1] - arms)  # the seed coefficients
    matrix = np.array([np.concatenate([p.contrast.weights(arms), padding]) for p in planned])
    low, high = robust_intervals(fit, matrix, design.alpha / len(planned))
    disagreements = []
    for effect, lo, hi in zip(scored, low, high, strict=True):
        pooled = verdicts.classify(float(lo), float(hi), design.margin_db).text()
        if not effect.withheld and pooled != effect.verdict_text:
            disagreements.append(PooledDisagreement(effect.label, effect.verdict_text, pooled, float(lo), float(hi)))
    return PooledSensitivity(METHOD, float(np.sqrt(fit.scale)), int(fit.df_resid), tuple(disagreements))


def fit_of(used: pd.DataFrame, arms: int) -> RegressionResults:
    """OLS of PSNR on one indicator per arm (cell means; the first ``arms`` columns) plus seed indicators (all but
    the first seed present): differences of arm coefficients are differences of seed-adjusted arm means."""
    arm_columns = pd.get_dummies(pd.Categorical(used["arm"], categories=range(arms)), prefix="arm", dtype=float)
    seeds = pd.get_dummies(pd.Categorical(used["seed"]), prefix="seed", drop_first=True, dtype=float)
    exog = pd.concat([arm_columns, seeds], axis=1)
    exog.index = used.index
    return sm.OLS(used["psnr"].to_numpy(dtype=float), exog).fit()


def robust_intervals(fit: RegressionResults, matrix: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The contrasts ``matrix @ beta`` with t intervals at ``1 - level`` on HC2 standard errors and Bell-McCaffrey
    degrees of freedom.

    HC2 weighs each squared residual by 1 / (1 - leverage), which makes its variance unbiased when the errors are
    homoscedastic; the degrees of freedom are those of the Satterthwaite approximation to that variance's
    distribution under homoscedastic normal errors (Bell and McCaffrey 2002; Imbens and Kolesar 2016).
    """
    exog = np.asarray(fit.model.exog, dtype=float)
    residuals = np.asarray(fit.resid, dtype=float)
    bread = np.linalg.pinv(exog.T @ exog)
    hat = exog @ bread @ exog.T
    annihilator = np.eye(len(residuals)) - hat
    # Each contrast's variance is sum_i weight_i · residual_i²; every arm has two runs or more, so leverage < 1.
    weights = (matrix @ bread @ exog.T) ** 2 / (1 - np.diag(hat))
    variance = weights @ residuals**2
    expected = weights @ np.diag(annihilator)  # E[variance] / sigma² for homoscedastic errors
    spread = np.einsum("ci,ij,cj->c", weights, annihilator**2, weights)  # Var[variance] / (2 sigma⁴)
    dof = np.divide(expected**2, spread, out=np.full_like(expected, np.inf), where=spread > 0)
    estimate = matrix @ np.asarray(fit.params, dtype=float)
    half = stats.t.ppf(1 - level / 2, dof) * np.sqrt(variance)
    return estimate - half, estimate + half
