"""``nas report STUDY_FOLDER``: does attention help only where it helps? The evidence and a verdict.

Writes ``STUDY_FOLDER/report/``: ``index.html`` (self-contained, interactive, opens offline), ``report.md``,
``figures/*.png`` and ``pareto.csv`` (the front over the study's objectives, trials.csv's columns). Works on
a running study and on one with failed trials; it only reads the study's storage. Its key plots and verdict
are left in ``report/dashboard/`` for ``nas dashboard``, which shows them under Plots and Note (``--to-dashboard``
saves them into the study at once).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import optuna
import pandas as pd
import plotly.graph_objects as go

from nas.core import initial_weights, objectives
from nas.core.objectives import COUNTED_COSTS, DEFAULT_OBJECTIVES, OBJECTIVES
from nas.core.pinned_spaces import pinned_path
from nas.core.settings import DEFAULT_MARGIN_DB, ProxyBudget
from nas.files import write_atomically
from nas.json_values import jsonable
from nas.report import (
    analysis,
    confirmation_statistics,
    dashboard,
    experiment_section,
    inheritance_bias,
    learned,
    published_networks,
    random_comparison,
    report_pages,
    study_figures,
)
from nas.report.reference import bicubic_floor, cost_end, space_reference
from nas.sr import protocol
from nas.study import records
from nas.study.folder import Kind, StudyError, StudyFolder
from nas.study.records import Outcome, csv_columns
from nas.study.storage import completed_designed, load_designed, load_study
from nas.trained import parents

FINISHED_OUTCOMES = tuple(outcome.value for outcome in Outcome)


@dataclass(frozen=True)
class Report:
    study: StudyFolder
    markdown: str
    front: pd.DataFrame
    labels: tuple[str, ...] = ()  # what the numbers measure
    verdict: tuple[str, ...] = ()  # the verdict's lines, numbers included
    numbers: dict[str, Any] = field(default_factory=dict)  # ``SearchNumbers.to_json``, or the experiment's alone

    def to_text(self) -> str:
        """The verdict part of the report, and where the whole is, as ``nas report`` prints them."""
        verdict = self.markdown.split("## What the numbers measure")[0].strip()
        return f"{verdict}\n\nreport: {self.study.report_html}  ({self.study.report_markdown}, figures/, pareto.csv)"

    def to_json(self) -> dict[str, Any]:
        """The verdict, its numbers, labels and front as ``nas report --json`` prints them, with the report's
        paths."""
        front = self.front[list(csv_columns())].sort_values("number")
        return {
            "report": {
                "html": str(self.study.report_html),
                "markdown": str(self.study.report_markdown),
                "pareto_csv": str(self.study.pareto_csv),
            },
            "verdict": list(self.verdict),
            "numbers": self.numbers,
            "labels": list(self.labels),
            "front": json.loads(front.to_json(orient="records")),
        }


@dataclass(frozen=True)
class SearchNumbers:
    """What the verdict's lines say in numbers: the search's (exploratory), and the designed runs' when there are
    any (None before)."""

    cost: str
    front: analysis.FrontShares
    noise: analysis.SeedNoise
    paired_noise: analysis.PairedNoise
    associations: analysis.PlacementEffects
    confirmation: confirmation_statistics.ConfirmationResult | None = None  # before `nas confirm` has runs
    experiment: dict | None = None  # before `nas experiment` has runs
    random_search: random_comparison.RandomComparison | None = None  # before `nas random-search` has a baseline
    inheritance: inheritance_bias.InheritanceBias | None = None  # in a search of changes to a parent only

    def to_json(self) -> dict[str, Any]:
        effects = self.associations
        # an underdetermined fit's coefficients mean nothing: the verdict calls them not estimable
        table = effects.table.to_dict(orient="records") if effects.residual_std_db is not None else []
        return jsonable(
            {
                "cost": self.cost,
                "front_composition": {"basis": "exploratory: single search runs, every seed", **asdict(self.front)},
                "seed_noise": {"confidence": analysis.CONFIDENCE, **asdict(self.noise)},
                "paired_noise": {
                    "basis": "sd of a difference of two genotypes at one seed: sqrt(2) x the residual sd of "
                    "PSNR ~ baseline + seed (OLS) over the repeated uniform baselines",
                    "confidence": analysis.CONFIDENCE,
                    **asdict(self.paired_noise),
                },
                "per_depth_associations": {
                    "basis": "exploratory: OLS on adaptively sampled search trials; associations, not effects; "
                    f"intervals {100 * analysis.CONFIDENCE:.0f}% simultaneous (Bonferroni)",
                    "residual_std_db": effects.residual_std_db,
                    "observations": effects.observations,
                    "coefficients": effects.coefficients,
                    "table": table,
                },
                "confirmation": self.confirmation.to_json() if self.confirmation else None,
                "experiment": self.experiment,
                "random_search": self.random_search.to_json() if self.random_search else None,
                "inheritance": asdict(self.inheritance) if self.inheritance else None,
            }
        )


def _labels(folder: StudyFolder, frame: pd.DataFrame, reference: analysis.Reference, confirmed: bool) -> list[str]:
    """What the numbers measure: budget, data, protocol, devices, seeds, cost, reference point, trial counts, and
    which numbers are confirmed."""
    trained_on = sorted(set(frame["device"].dropna()))
    counts = frame["outcome"].value_counts().to_dict()
    count_text = ", ".join(f"{counts.get(o, 0)} {o}" for o in FINISHED_OUTCOMES)
    running = counts.get("running", 0)
    return [
        *_setup_labels(folder),
        f"hypervolume: normalised to [0, 1] (PSNR as the share of the floor's squared error removed, cost as "
        f"1 − cost / ceiling); PSNR floor: {reference.psnr_basis}; cost ceiling: {reference.cost_basis}",
        f"trained on: {', '.join(trained_on) or '-'}; machines: {_machines(folder)}",
        f"trials: {count_text}" + (f", {running} still running" if running else ""),
        "single-run (search): the Pareto front, its table and figures, 'best in each band' and the hypervolume are "
        "single runs of adaptively chosen trials, maxima over many noisy runs (optimistic); "
        + (
            "confirmed: only the confirmation verdict (means over fresh seeds, `nas confirm`)"
            if confirmed
            else "confirmed: nothing yet (run `nas confirm`)"
        ),
    ]


def _read_at(budget: ProxyBudget) -> str:
    """``, read at 300, 1000`` where the runs are read along the way too."""
    return f", read at {', '.join(str(b) for b in budget.readings())}" if budget.budgets else ""


def _setup_labels(folder: StudyFolder) -> list[str]:
    """What every number of the study measures: space, budget, data and protocol, the MACs convention, machines."""
    space = folder.space()  # the validated space the study ran with, as pinned when it was created
    budget = space.proxy
    return [
        f"space `{space.name}`: scale ×{space.scale}, nf {space.channels}, {space.depth} depths",
        f"proxy budget: {budget.iterations} iterations × batch {budget.batch_size} × {budget.patch_size}² LR "
        f"patches, lr {budget.lr:g}{_read_at(budget)}; the search's seeds {list(budget.seeds)}"
        + (f", the designed experiment's {list(space.experiment.seeds)}" if space.experiment else ""),
        f"data: train `{pinned_path(space.data.train)}`, validation `{pinned_path(space.data.val)}`"
        + "".join(f", also validated on `{pinned_path(source)}`" for source in space.data.also_val)
        + f"; PSNR/SSIM on {protocol.describe(space.scale)['channel']}, border = scale, MATLAB-bicubic LR",
        "MACs: multiply-adds (1 MAC = 1 multiply + 1 add) of conv/linear/matmul/attention/upsampling for a "
        f"{protocol.COST_HR_OUTPUT} (fvcore); params: learnable parameters",
    ]


def _machines(folder: StudyFolder) -> str:
    """The machines that ran the study's searches (environment.json), or '-'."""
    machines = sorted(
        {
            f"{r['cpu']} ({r['cpu_count']} CPUs){', ' + ', '.join(r['gpus']) if r['gpus'] else ''}"
            for r in folder.environment_runs()
        }
    )
    return "; ".join(machines) or "-"


def _front_text(shares: analysis.FrontShares, cost: str, unlearned: str | None) -> list[str]:
    """Where the front's points come from, in words that cannot overclaim: counts and shares, exploratory; not drawn
    where the front's networks have not learned (``unlearned`` says why)."""
    if unlearned is not None:
        return [f"**Front composition ({cost}):** {unlearned}."]
    total = shares.volume_all

    def share(volume: float) -> str:
        return f"{volume / total:.1%}" if total > 0 else "-"  # 99.6 % is not 100 %

    return [
        f"**Front composition ({cost}; exploratory, single search runs, every seed):** the front holds "
        f"{shares.mixed_on_front} mixed and {shares.uniform_on_front} uniform points; {shares.uniform_dominated} of "
        f"{shares.uniform_runs} uniform runs are dominated by a mixed run. Hypervolume {total:.4f}; mixed runs "
        f"alone reach {shares.volume_mixed:.4f} ({share(shares.volume_mixed)}), uniform runs alone "
        f"{shares.volume_uniform:.4f} ({share(shares.volume_uniform)})"
        f"{' (no run beats the PSNR floor within the cost ceiling)' if total == 0 else ''}. The all-`none` "
        "placement is the unique cheapest genotype, so a uniform point is always on the front: this describes "
        "the search, it does not test whether mixed placements beat uniform ones.",
    ]


def _noise_line(noise: analysis.SeedNoise) -> str:
    if noise.std_db is None:
        return (
            "Seed noise: no estimate (no genotype was trained with two or more seeds; list 3 or more in "
            "`proxy.seeds`), so no difference below is called beyond seed noise."
        )
    band = noise.single_run_band_db()
    return (
        f"Seed noise of one run (yardstick): {noise.std_db:.3f} dB standard deviation pooled over {noise.runs} "
        f"runs of {noise.genotypes} repeated baselines, {100 * analysis.CONFIDENCE:.0f}% CI [{noise.low_db:.3f}, "
        f"{noise.high_db:.3f}] dB on {noise.dof} degrees of freedom (chi-square); robust (median pairwise "
        f"difference) {noise.robust_db:.3f} dB. Two single runs of one genotype differ by up to ±{band:.3f} dB "
        f"({100 * analysis.CONFIDENCE:.0f}%, at the CI's upper end)."
    )


def _paired_noise_line(paired: analysis.PairedNoise, scheme: str | None) -> str:
    if paired.std_db is None:
        return (
            "Paired-difference noise: no estimate (no two uniform baselines share two seeds), so runs of one "
            "seed are compared with the noise of one run."
        )
    correlation = "not estimable" if paired.correlation is None else f"{paired.correlation:.2f}"
    shared = (
        "A seed is one stream of common random numbers (initial weights per module, patches), so runs of one "
        "seed move together."
        if scheme == initial_weights.SCHEME
        else f"This study's initial weights were drawn by {scheme!r}: its runs of one seed share their patches, "
        "not their initial weights."
    )
    return (
        f"Paired-difference noise (yardstick for runs of one seed): {paired.std_db:.3f} dB standard deviation "
        f"of the difference of two genotypes trained with one seed, from {paired.runs} runs of "
        f"{paired.baselines} repeated uniform baselines with the seed as a block (OLS), "
        f"{100 * analysis.CONFIDENCE:.0f}% CI [{paired.low_db:.3f}, {paired.high_db:.3f}] dB on {paired.dof} "
        f"degrees of freedom; intra-seed correlation {correlation}. Uniform placements differ at every depth: "
        f"genotypes that differ at fewer depths share more weights and pair more closely. {shared}"
    )


def _association_line(effects: analysis.PlacementEffects) -> str:
    if effects.table.empty:
        return "Per-depth associations: none yet (no trained trial holds attention at any depth)."
    if effects.residual_std_db is None:
        return (
            f"Per-depth associations: not estimable ({effects.observations} trainings for "
            f"{effects.coefficients} coefficients, design rank {effects.rank}: too few trainings, or choices "
            "that always come together)."
        )
    table = effects.table
    excluding = int(((table["low_db"] > 0) | (table["high_db"] < 0)).sum())
    return (
        f"Per-depth associations (exploratory; figures/placement_effects.png): OLS of PSNR on per-depth "
        f"one-hot choices over {effects.observations} trainings, residual σ {effects.residual_std_db:.3f} dB; "
        f"{excluding} of {len(table)} intervals (95%, simultaneous, Bonferroni) exclude 0. These are "
        "associations in adaptively sampled trials, not effects: no per-depth verdict is drawn from the "
        "search (that needs a designed experiment)."
    )


def _band_lines(
    frame: pd.DataFrame, cost: str, noise: analysis.SeedNoise, paired: analysis.PairedNoise, min_gain_db: float
) -> list[str]:
    lines = [f"Best in each {cost} band (single-run maxima from the search, not confirmed; gain over bicubic):"]
    divisor, prefix = OBJECTIVES[cost].text_scale
    for band in analysis.cost_bands(frame, cost):
        best, uniform = band["best"], band["best_uniform"]
        uniform_text = ""
        unlearned = None
        if uniform is not None:
            compared = {"the best": float(best["gain_db"]), str(uniform["baseline"]): float(uniform["gain_db"])}
            unlearned = learned.short_of_gain(compared, min_gain_db, "the band's networks")
        if uniform is not None and unlearned is not None:
            uniform_text = f"; best uniform {uniform['baseline']} {uniform['psnr']:.3f} dB: {unlearned}"
        elif uniform is not None:
            gap = best["psnr"] - uniform["psnr"]
            # Runs of one seed are paired: their difference is measured against the paired-difference noise.
            same_seed = best["seed"] == uniform["seed"] and paired.std_db is not None
            band_db = paired.paired_band_db() if same_seed else noise.single_run_band_db()
            yardstick = "paired noise (same seed)" if same_seed else "seed noise"
            if band_db is None:
                reading = "no noise estimate"
            elif abs(gap) <= band_db:
                reading = f"within {yardstick}"
            else:
                reading = f"beyond {yardstick}, unconfirmed"
            uniform_text = f"; best uniform {uniform['baseline']} {uniform['psnr']:.3f} dB ({gap:+.3f} dB, {reading})"
        lines.append(
            f"- {band['low'] / divisor:.4g}–{band['high'] / divisor:.4g}{prefix}: "
            f"`{best['genotype']}` {best['psnr']:.3f} dB ({best['gain_db']:+.3f} dB over bicubic){uniform_text}"
        )
    return lines


def _verdict(
    done: pd.DataFrame,
    frame: pd.DataFrame,
    cost: str,
    reference: analysis.Reference,
    scheme: str | None,
    learning: tuple[str | None, float],
) -> tuple[list[str], SearchNumbers]:
    """The search's verdict lines and their numbers (no designed runs in them yet); ``scheme``: how the study's
    trainings drew their initial weights; ``learning``: why the front's networks answer nothing (or None), and the
    space's minimum gain over bicubic."""
    unlearned, min_gain_db = learning
    shares = analysis.front_shares(done, cost, reference)
    noise, paired = analysis.seed_noise(frame), analysis.paired_noise(frame)
    effects = analysis.placement_effects(frame)
    noise_lines = [_noise_line(noise), _paired_noise_line(paired, scheme)]
    lines = [*_front_text(shares, cost, unlearned), *noise_lines, _association_line(effects)]
    bands = _band_lines(frame, cost, noise, paired, min_gain_db)
    return lines + bands, SearchNumbers(cost, shares, noise, paired, effects)


def _gains(rows: pd.DataFrame) -> dict[str, float]:
    """Each row's gain over bicubic, by its genotype and trial number."""
    return {f"{row['genotype']} (trial {row['number']})": float(row["gain_db"]) for _, row in rows.iterrows()}


def _confirmation(
    folder: StudyFolder, cost: str, confirmed: optuna.Study | None, trials: list[optuna.trial.FrozenTrial]
) -> tuple[list[str], confirmation_statistics.ConfirmationResult | None]:
    """The search verdict from the ``confirmed`` study's complete ``trials`` when there are any, with its numbers;
    otherwise, what the search's numbers are (and None)."""
    if confirmed is None or not trials:  # no study, no trials (``completed_designed``)
        return [
            "**Search numbers are exploratory.** The front and the best in each band below are single-run maxima "
            "of adaptively chosen trials and carry the search's optimism (winner's curse). Run `nas confirm "
            f"{folder.root}` to retrain the front and every uniform placement with fresh seeds; this verdict is "
            "then computed from those runs."
        ], None
    space = folder.space()
    runs = pd.DataFrame([{**r.to_user_attrs(), "gain_db": r.gain_db} for r in map(records.record_of, trials)])
    runs = learned.with_gain(runs, bicubic_floor(space))
    margin = space.experiment.margin_db if space.experiment else DEFAULT_MARGIN_DB
    result = confirmation_statistics.compare(runs, cost, margin, min_gain_db=space.proxy.min_gain_db)
    lines = confirmation_statistics.verdict_lines(
        result, tuple(confirmed.user_attrs.get("seeds", [])), confirmed.user_attrs.get("budget_scale", 1.0)
    )
    return lines, result


def _experiment_only(folder: StudyFolder, frame: pd.DataFrame) -> Report:
    """The report of a study whose search has no complete trial: its designed experiment alone.

    Raises:
        StudyError: the study has no finished experiment run either.
    """
    designed = experiment_section.section(folder, folder.figures)
    if designed is None:
        raise _nothing_to_report(folder, frame)
    if designed.why_not is not None:
        raise StudyError(f"{folder.root}: no search trial has finished, and the experiment is {designed.why_not}")
    labels = [*_setup_labels(folder), f"machines: {_machines(folder)}"]
    verdict = ["No search trial has finished: this report holds the designed experiment alone."]
    markdown = report_pages.markdown(labels, verdict, designed, frame.iloc[0:0], designed.pngs, list(COUNTED_COSTS))
    write_atomically(folder.report_markdown, markdown)
    write_atomically(folder.report_html, report_pages.html_page(labels, verdict, designed, [], ""))
    return Report(folder, markdown, frame.iloc[0:0], tuple(labels), tuple(verdict), {"experiment": designed.numbers})


def front_of(source: optuna.Study, done: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``done`` (the search's complete trials) on its Pareto front over the study's objectives."""
    return done[analysis.front_mask(done, list(source.metric_names or DEFAULT_OBJECTIVES))]


def trainings_of(folder: StudyFolder, genotype_ids: set[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every training of each of ``genotype_ids`` in the study, by kind (search, confirmation, experiment, random):
    trial, seed, PSNR, SSIM, device and arm. A duplicate trial reused a training listed at its original: left out."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {g: {kind.value: [] for kind in Kind} for g in genotype_ids}
    for kind in Kind:
        study = load_study(folder) if kind is Kind.SEARCH else load_designed(folder, kind)
        for trial in study.get_trials(deepcopy=False) if study else []:
            record = records.record_of(trial)
            if record.genotype in found and record.outcome is Outcome.TRAINED:
                found[record.genotype][kind.value].append(
                    {
                        "trial": trial.number,
                        "seed": record.seed,
                        "psnr": record.psnr,
                        "ssim": record.ssim,
                        "device": record.device,
                        "precision": record.precision,
                        "arm": record.arm,
                    }
                )
    return found


def _nothing_to_report(folder: StudyFolder, frame: pd.DataFrame) -> StudyError:
    """Why a study has no complete trial: the constraints exclude every trial so far, or none has finished."""
    finished = frame[frame["outcome"].isin(FINISHED_OUTCOMES)] if not frame.empty else frame
    if not finished.empty and set(finished["outcome"]) == {Outcome.INFEASIBLE.value}:
        limits = ", ".join(f"{name} {limit:.4g}" for name, limit in folder.space().constraints.items())
        return StudyError(
            f"{folder.root}: the space's constraints ({limits}) exclude every trial so far ({len(finished)} "
            "infeasible, "
            "none trained); raise the limits or narrow the choices to cheaper blocks, and start anew with "
            "`nas search --fresh`"
        )
    return StudyError(f"{folder.root}: the study has no complete trial yet; let `nas search` run, then report")


def build(folder: StudyFolder, to_dashboard: bool = False) -> Report:
    """Writes the report of the study in ``folder``; the study's storage is written only when ``to_dashboard``.

    The plots and note the dashboard shows are left in ``report/dashboard/``; ``to_dashboard`` also saves them
    into the study at once (``nas dashboard`` does when it starts).

    Raises:
        StudyError: no study in the folder, no complete trial yet, or a path the report writes is taken
            (``StudyFolder.check_report_paths``).
    """
    folder.check_report_paths()
    source = load_study(folder)
    frame = analysis.trials_frame(source)
    space = folder.space()
    floor = bicubic_floor(space)
    if not frame.empty:
        frame = learned.with_gain(frame, floor)
    done = analysis.complete(frame) if not frame.empty else frame
    folder.figures.mkdir(parents=True, exist_ok=True)
    if done.empty:
        return _experiment_only(folder, frame)
    study_objectives = list(source.metric_names or DEFAULT_OBJECTIVES)
    costs = [c for c in objectives.costs() if done[c].notna().all()]
    main_cost = study_objectives[1] if len(study_objectives) > 1 else DEFAULT_OBJECTIVES[1]
    front = front_of(source, done)
    depths = analysis.depth_columns(frame)
    front_rows = front[list(csv_columns())].sort_values("number")
    write_atomically(folder.pareto_csv, front_rows.to_csv(index=False))

    reference = space_reference(space, frame, main_cost)
    confirmed, confirmed_trials = completed_designed(folder, Kind.CONFIRMATION)
    labels = _labels(folder, frame, reference, confirmed=bool(confirmed_trials))
    min_gain = space.proxy.min_gain_db
    unlearned = learned.short_of_gain(_gains(front), min_gain, "the front's networks")
    scheme = folder.initial_weights_scheme()
    verdict, numbers = _verdict(done, frame, main_cost, reference, scheme, (unlearned, min_gain))
    confirmation_lines, confirmed_numbers = _confirmation(folder, main_cost, confirmed, confirmed_trials)
    against_random = random_comparison.compare(folder, frame, main_cost, reference)
    comparison, random_band = against_random if against_random else (None, None)
    random_lines = random_comparison.verdict_line(comparison, folder, unlearned)
    inherited = inheritance_bias.bias(frame, front, parents.genotype_of(space))
    verdict = confirmation_lines + random_lines + verdict + inheritance_bias.bias_line(inherited)
    effects = numbers.associations
    curve = analysis.hypervolume_curve(frame, main_cost, reference)
    published = published_networks.table_lines(space.scale, main_cost, reference.cost)
    frequency = analysis.attention_frequency(frame, front)
    importance = analysis.depth_importance(source)
    colours = study_figures.block_colours(sorted({b for d in depths for b in frame[d].dropna()}))

    plots: dict[str, go.Figure] = {}
    for cost in costs:
        markers = published_networks.markers(space.scale, cost, cost_end(space, frame, cost)[0])
        study_figures.pareto_png(done, cost, folder.figures / f"pareto_{cost}.png", floor, markers)
        plots[f"pareto-{cost}"] = study_figures.pareto_plotly(done, cost, floor, markers)
    repeats = len(comparison.random_hypervolumes) if comparison else 0
    study_figures.hypervolume_png(curve, random_band, repeats, main_cost, folder.figures / "hypervolume.png")
    plots["hypervolume"] = study_figures.hypervolume_plotly(curve, random_band, repeats, main_cost)
    if effects.residual_std_db is not None:
        study_figures.effects_png(effects.table, folder.figures / "placement_effects.png")
        plots["placement-effects"] = study_figures.effects_plotly(effects.table)
    study_figures.frequency_png(frequency, folder.figures / "attention_frequency.png")
    plots["attention-frequency"] = study_figures.frequency_plotly(frequency)
    if importance:
        study_figures.importance_png(importance, folder.figures / "importance.png")
        plots["importance"] = study_figures.importance_plotly(importance)
    study_figures.strips_png(front, depths, colours, folder.figures / "front_placements.png")

    designed = experiment_section.section(folder, folder.figures)
    pngs = sorted(p.name for p in folder.figures.glob("*.png"))
    markdown = report_pages.markdown(labels, verdict, designed, front, pngs, costs, published)
    write_atomically(folder.report_markdown, markdown)
    strips = report_pages.strip_html(front, depths, colours, costs)
    page = report_pages.html_page(labels, verdict, designed, list(plots.values()), strips, published)
    write_atomically(folder.report_html, page)
    dashboard.save_report(folder, plots, markdown.split("## Figures")[0], main_cost)
    if to_dashboard:
        dashboard.push_report(folder)
    numbers = replace(numbers, confirmation=confirmed_numbers, experiment=designed.numbers if designed else None,
                      random_search=comparison, inheritance=inherited)  # fmt: skip
    return Report(folder, markdown, front, tuple(labels), tuple(verdict), numbers.to_json())
