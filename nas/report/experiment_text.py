"""A designed experiment's verdict in words, built from its numbers (``ExperimentResult.verdict``).

The lines, in order: the design, the test, the noise per contrast family with the seeds the margin needs, the
pooled fit's sensitivity check, then per block its uniform effect, its claim per arm kind, its depth test, every
group's verdicts and whether it helps beyond capacity; last the depth test over all tested blocks.
"""

from __future__ import annotations

import math

from nas.core.counting import ACTIVATIONS
from nas.core.experiment_design import group_text
from nas.core.power import power_basis, seeds_text
from nas.report import verdicts
from nas.report.experiment_contrasts import CONTROL_OVER_REMOVAL, FRESH_OVER_CONTROL
from nas.report.experiment_depth import ALL_BLOCKS, DepthTest
from nas.report.experiment_effects import (
    ARM_KIND_PHRASES,
    PARENT_KIND_PHRASES,
    DesignedEffect,
    ExperimentResult,
    FamilyNoise,
)
from nas.sr.protocol import COST_HR_OUTPUT

NAMED_ARMS = 6  # arms under the minimum gain named in the verdict's "Learned" line (the rest counted)
FAMILY_PHRASES = {
    "attention": "{}",
    "control": "capacity control {}",
    "attention - control": "over the capacity control {}",
    "mechanism": "mechanism control {}",
    "attention - mechanism": "over the mechanism control {}",
    "freshness": "freshness control {}",
    "attention - freshness": "over the freshness control {}",
    FRESH_OVER_CONTROL: "the fresh block over its fresh capacity control, {},",
    CONTROL_OVER_REMOVAL: "the fresh capacity control over the removal, {},",
}


def verdict_lines(result: ExperimentResult) -> tuple[str, ...]:
    """The verdict in words: design, test, noise, the pooled fit's agreement, then per block."""
    lines = [_design_line(result), _learned_line(result), _method_line(result), _noise_line(result)]
    lines.append(_pooled_line(result))
    depth = {t.name: t for t in result.depth_tests}
    for block in result.blocks:
        lines += _block_lines(result, block, depth)
    if ALL_BLOCKS in depth:
        lines.append(_depth_text(depth[ALL_BLOCKS]))
    return tuple(lines)


def _design_line(result: ExperimentResult) -> str:
    control = (
        f"capacity control {result.control!r} matched to the parameters each block adds to a slot"
        if result.control
        else "no capacity control"
    )
    trained = [b for b in result.blocks if any((e.block, e.family) == (b, FRESH_OVER_CONTROL) for e in result.effects)]
    if trained:
        control += (
            f"; in place of the parent's trained {', '.join(trained)}: the capacity and freshness controls registered "
            "for it (its attention branch a fresh plain branch of the same parameters; its attention branch fresh), "
            "the capacity control read against the freshness control, both fresh"
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


def _learned_line(result: ExperimentResult) -> str:
    """Whether the arms have learned: their gains over bicubic upsampling against the space's minimum."""
    gains = sorted((arm.gain_db, arm.label) for arm in result.arms if math.isfinite(arm.gain_db))
    short = [arm.label for arm in result.arms if not arm.gain_db >= result.min_gain_db]  # an unknown gain is short
    if not gains:
        unknown = "the validation images cannot be read"
        return f"Learned: the arms' gains over bicubic are unknown ({unknown}): no verdict is drawn."
    spread = f"from {gains[0][0]:+.3f} dB ({gains[0][1]}) to {gains[-1][0]:+.3f} dB ({gains[-1][1]})"
    head = f"Learned: each arm's mean gain over bicubic upsampling of the validation images runs {spread}"
    if not short and result.min_gain_db < 0:
        return (
            f"{head}; the space asks a gain of {result.min_gain_db:g} dB: the verdicts below may rest on networks that "
            "do not beat bicubic upsampling, which answer nothing about networks that super-resolve."
        )
    if short and result.parent and result.arms[0].label not in short:  # a parent design asks it of the parent alone
        return (
            f"{head}; the parent reaches the {result.min_gain_db:g} dB the space asks of a proxy that has learned, and "
            f"{len(short)} of its changes fall under it ({_named(short)}): each is read all the same, as a change of "
            "a network that has learned, whose cost is the measurement."
        )
    if not short:
        return f"{head}; every arm reaches the {result.min_gain_db:g} dB the space asks of a proxy that has learned."
    bar = f"the {result.min_gain_db:g} dB the space asks of a proxy that has learned"
    if len(short) == len(gains):
        return f"{head}; every arm falls under {bar}: no verdict is drawn from these runs."
    drawn = "no verdict resting on them is drawn"
    return f"{head}; {len(short)} of {len(gains)} arms fall under {bar} ({_named(short)}): {drawn}."


def _named(labels: list[str]) -> str:
    """The first ``NAMED_ARMS`` labels, and how many more."""
    return ", ".join(labels[:NAMED_ARMS]) + (
        f" and {len(labels) - NAMED_ARMS} more" if len(labels) > NAMED_ARMS else ""
    )


def _method_line(result: ExperimentResult) -> str:
    basis, margin = result.interval, result.margin_db
    return (
        f"Test: each effect is the mean over seeds of its per-seed contrast (paired by seed: common random numbers), "
        f"with a t interval on seeds - 1 degrees of freedom, {basis.confidence:.0%} simultaneous over "
        f"{basis.contrasts} contrasts (Bonferroni, alpha {result.alpha:g}); the verdicts read those intervals, and the "
        f"Holm-adjusted p-values beside them (uniformly more powerful) can reject where an interval does not; "
        f"helps/hurts: the interval excludes 0 (by at least the margin: it also excludes ±{margin:g} dB); no effect: "
        f"the interval lies within ±{margin:g} dB; the claim per block reads its group verdicts together; effect size "
        f"differs across depth: Hotelling's T² on the per-seed group differences, a family of its own at alpha "
        f"{result.alpha:g} (Holm over the depth tests run). Beside each effect, what its arms differ by: parameters, "
        f"MACs and activations ({ACTIVATIONS}), for a {COST_HR_OUTPUT}."
    )


def _noise_line(result: ExperimentResult) -> str:
    families = "; ".join(_family_text(family) for family in result.noise)
    basis = power_basis(result.interval.contrasts, result.alpha)
    return (
        f"Noise per contrast family, contrast by contrast (a contrast's paired sd: the sd over seeds of its per-seed "
        f"values; the seeds that would detect an effect of {result.margin_db:g} dB, {basis}, at the family's median "
        f"contrast and from its calmest to its noisiest; one arm's sd across seeds; the intra-seed correlation): "
        f"{families}."
    )


def _family_text(family: FamilyNoise) -> str:
    low, high = (seeds_text(n).removeprefix("about ") for n in family.seeds_for_margin_range)
    spread = f"{family.median_sd_db:.3f} dB over {family.contrasts} contrast(s)"
    if family.contrasts > 1:
        spread = (
            f"median {family.median_sd_db:.3f} dB over {family.contrasts} contrasts ({family.low_sd_db:.3f} to "
            f"{family.high_sd_db:.3f}, the noisiest {family.noisiest})"
        )
    correlation = "" if family.intra_seed_correlation is None else f", correlation {family.intra_seed_correlation:.2f}"
    return (
        f"{family.family} {spread}, {seeds_text(family.seeds_for_margin)} ({low}-{high}) seeds; one arm "
        f"{family.one_run_sd_db:.3f} dB{correlation}"
    )


def _pooled_line(result: ExperimentResult) -> str:
    pooled = result.pooled
    head = f"Sensitivity: the pooled fit ({pooled.method}; residual sd {pooled.residual_sd_db:.3f} dB)"
    if not pooled.disagreements:
        return f"{head} agrees with every verdict."
    changed = "; ".join(f"{d.label} {d.pooled} (paired: {d.paired})" for d in pooled.disagreements)
    return f"{head} would read {len(pooled.disagreements)} effect(s) otherwise: {changed}. The paired reading stands."


def effect_numbers(effect: DesignedEffect) -> str:
    """``+0.123 dB [+0.050, +0.196]``: an effect with its simultaneous interval."""
    return f"{effect.estimate_db:+.3f} dB [{effect.low_db:+.3f}, {effect.high_db:+.3f}]"


def _verdict_text(effect: DesignedEffect) -> str:
    if effect.verdict == verdicts.NOT_DRAWN:
        return f"{effect.withheld} ({effect_numbers(effect)}{_cost_text(effect)})"
    withheld = f", no verdict: {effect.withheld}" if effect.withheld else ""
    return f"{effect.verdict_text} ({effect_numbers(effect)}{_cost_text(effect)}{withheld})"


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


def _depth_text(test: DepthTest) -> str:
    if test.not_run is not None:
        how = "" if test.not_run.startswith(verdicts.NOT_DRAWN) else "not tested: "
        return f"{test.name}: whether the effect size differs across depth is {how}{test.not_run}."
    numbers = (
        f"Hotelling T² = {test.t_squared:.3g}, F({test.df_num}, {test.df_denom}) = {test.f:.3g}, "
        f"Holm p = {test.p_holm:.3g}, {test.seeds} seeds"
    )
    if test.rejects:
        return f"{test.name}: effect size differs across depth ({numbers})."
    return f"{test.name}: whether the effect size differs across depth is inconclusive ({numbers})."


def _block_lines(result: ExperimentResult, block: str, depth: dict[str, DepthTest]) -> list[str]:
    """Per block: the uniform effect, the claim per arm kind, the depth tests, then per group every verdict."""
    effects = [e for e in result.effects if e.block == block]
    trained = any(e.family == FRESH_OVER_CONTROL for e in effects)
    kinds = PARENT_KIND_PHRASES if result.parent else ARM_KIND_PHRASES
    lines = [f"{block} ({e.family}) at every depth: {_verdict_text(e)}." for e in effects if e.kind == "uniform"]
    for claim in (c for c in result.claims if c.block == block):
        groups = ", ".join(claim.groups)
        lines.append(f"{block} {kinds[claim.kind]} at each depth group: **{claim.claim}** ({groups}).")
    if block in depth:
        lines.append(_depth_text(depth[block]))
    for group in range(len(result.groups)):
        parts = [
            f"{FAMILY_PHRASES[e.family].format(kinds[e.kind])} {_verdict_text(e)}" for e in effects if e.group == group
        ]
        if parts:
            lines.append(f"{block} at depths {group_text(result.groups[group])}: " + "; ".join(parts) + ".")
    for found in (b for b in result.beyond if b.block == block and (b.shown or b.missing)):
        where = "at every depth"
        if found.group is not None:
            where = f"{kinds[found.kind]} at depths {group_text(result.groups[found.group])}"
        how = " (its effect and its effect over each control all help)" if found.shown else ""
        if found.shown and trained:
            how = (
                " (its removal, its cost over the mechanism control, and the fresh block over its fresh capacity "
                "control all help: a fresh attention branch beats a fresh plain one of its size within this budget)"
            )
        lines.append(f"{block} {where}: {found.text}{how}.")
    return lines
