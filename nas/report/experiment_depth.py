"""Whether an effect differs across depth: Hotelling's T² on paired per-seed vectors of group differences.

A difference in significance is not a significant difference: that attention helps at one group and not at another
is tested as such. For each block (and each of its controls) the vector of its group-effect differences (each
group's effect minus the first group's, for each arm kind) is formed at every seed, and Hotelling's one-sample T²
(statsmodels ``test_mvmean``) tests that its mean is 0. It allows any covariance between the differences, which
common random numbers make unequal, and needs more seeds than differences; where there are not that many, the test
is reported as not run, with the reason. Holm adjusts over the tests run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.multivariate import test_mvmean

from nas.core.experiment_design import ExperimentDesign, control_name
from nas.report.experiment_contrasts import group_differences, independent
from nas.report.experiment_runs import ArmSummary, SeedTable, short_of_gain

ALL_BLOCKS = "all tested blocks"


@dataclass(frozen=True)
class DepthTest:
    """Whether a block's effect differs across depth groups: Hotelling's T² on the per-seed vectors of its group
    differences, as F(df_num, df_denom); ``p_holm`` adjusted over the depth tests run. Where it could not be run,
    ``not_run`` says why and the numbers are None."""

    name: str
    seeds: int
    differences: int  # the group differences tested jointly
    t_squared: float | None
    f: float | None
    df_num: int | None
    df_denom: int | None
    p_value: float | None
    p_holm: float | None
    rejects: bool
    not_run: str | None = None


def depth_tests(table: SeedTable, design: ExperimentDesign, arms: tuple[ArmSummary, ...]) -> tuple[DepthTest, ...]:
    """Per block (and its controls), then over all tested blocks: Hotelling's T² that the group effects are equal,
    Holm over the tests that could be run; not drawn where an arm behind a test has not learned (``arms``' gains
    under the design's minimum)."""
    if len(design.groups) < 2:
        return ()
    named, everything = [], []
    for block in design.blocks:
        rows = group_differences(design, block, None)
        everything += rows
        named.append((block, rows))
        named += [
            (
                control_name(block, control, design.control, design.has_trained_controls(block)),
                group_differences(design, block, control),
            )
            for control in design.controls_of(block)
        ]
    if len(design.blocks) > 1:
        named.append((ALL_BLOCKS, everything))
    tests = [_drawn(table, name, independent(rows), arms, design) for name, rows in named if rows]
    tests = [t for t in tests if t.differences]  # a block whose effects are all the parent's own has none to test
    run = [i for i, t in enumerate(tests) if t.p_value is not None]
    if run:
        adjusted = multipletests([tests[i].p_value for i in run], alpha=design.alpha, method="holm")[1]
        for i, p in zip(run, adjusted, strict=True):
            tests[i] = dataclasses.replace(tests[i], p_holm=float(p), rejects=bool(p < design.alpha))
    return tuple(tests)


def _drawn(
    table: SeedTable, name: str, rows: list[np.ndarray], arms: tuple[ArmSummary, ...], design: ExperimentDesign
) -> DepthTest:
    """``_hotelling``'s test, unless an arm of its differences has not learned: then the reason, as not run."""
    behind = np.flatnonzero(np.any(np.array(rows) != 0, axis=0)) if rows else np.array([], dtype=int)
    unlearned = short_of_gain(arms, (int(arm) for arm in behind), design)
    if unlearned is None:
        return _hotelling(table, name, rows)
    return DepthTest(name, 0, len(rows), None, None, None, None, None, None, False, unlearned)


def _hotelling(table: SeedTable, name: str, rows: list[np.ndarray]) -> DepthTest:
    """Hotelling's one-sample T² (statsmodels ``test_mvmean``) that the per-seed group differences have mean 0."""
    if not rows:
        return DepthTest(name, 0, 0, None, None, None, None, None, None, False)
    weights = np.array(rows)
    arms = (weights != 0).any(axis=0)
    complete = np.isfinite(table.psnr[arms]).all(axis=0)
    vectors = (weights[:, arms] @ table.psnr[arms][:, complete]).T  # seeds × differences
    seeds, differences = vectors.shape
    if seeds <= differences:
        reason = f"it needs more seeds than group differences ({seeds} seeds, {differences} differences)"
        return DepthTest(name, seeds, differences, None, None, None, None, None, None, False, reason)
    covariance_rank = np.linalg.matrix_rank(np.atleast_2d(np.cov(vectors, rowvar=False)))
    if covariance_rank < differences:
        reason = "the per-seed differences do not vary independently (their covariance is singular)"
        return DepthTest(name, seeds, differences, None, None, None, None, None, None, False, reason)
    if differences == 1:  # T² of one difference is the paired t², F(1, n - 1) (statsmodels needs two or more)
        paired = stats.ttest_1samp(vectors[:, 0], 0.0)
        t_squared, p_value = float(paired.statistic) ** 2, float(paired.pvalue)
        return DepthTest(name, seeds, 1, t_squared, t_squared, 1, seeds - 1, p_value, None, False)
    result = test_mvmean(vectors)
    df_num, df_denom = (int(df) for df in result.df)
    return DepthTest(
        name, seeds, differences, float(result.t2), float(result.statistic), df_num, df_denom,
        float(result.pvalue), None, False,
    )  # fmt: skip
