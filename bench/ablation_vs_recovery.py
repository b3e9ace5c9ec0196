"""A2N's attention removed per depth group: at test time (no recovery) beside the inherited experiment (recovery).

Reads two committed results and draws them on one axis, per group of depths, with their intervals:

- test time: ``nas ablate``'s ``remove`` mode on the released A2N ×2 (``results/published/a2n_x2/``): the mean
  over the Set5 images of the PSNR change, with its t interval over the images, Bonferroni-adjusted over the
  ablation's depth and group effects;
- with recovery: the inherited experiment's ``drop`` effect of ``a2b`` at that group
  (``results/published/sr_light_inherited/report/experiment.json``), A2N with the group's attention removed and
  fine-tuned minus A2N fine-tuned the same way, with the experiment's simultaneous interval over its contrasts.

Both are means over Set5's images of the per-image PSNR change (Y channel, border = scale), removal minus A2N:
negative means removing the attention costs PSNR. Reads only; writes the figure and prints the table (Markdown).

Usage: python3 bench/ablation_vs_recovery.py [--ablation FILE] [--experiment FILE] [--out PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt  # noqa: E402

from nas.core.experiment_design import group_text  # noqa: E402
from nas.files import save_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ABLATION = ROOT / "results" / "published" / "a2n_x2" / "ablation.json"
EXPERIMENT = ROOT / "results" / "published" / "sr_light_inherited" / "report" / "experiment.json"
FIGURE = ROOT / "results" / "published" / "ablation_vs_recovery.png"
BLOCK = "a2b"


@dataclass(frozen=True)
class Removal:
    """The PSNR change (dB) of removing the attention of one depth group, with its interval."""

    depths: tuple[int, ...]
    change_db: float
    low_db: float
    high_db: float
    verdict: str


def test_time(ablation: dict) -> dict[tuple[int, ...], Removal | None]:
    """The ablation's ``remove`` effects of its depth groups; None for a group without an interval (named on
    stderr)."""
    removals: dict[tuple[int, ...], Removal | None] = {}
    for group in ablation["groups"]:
        interval = group["interval"]
        if group["mode"] != "remove":
            continue
        depths = tuple(group["switched"])
        if interval["low"] is None:
            print(f"left out: depths {group_text(depths)} have no test-time interval "
                  f"({interval.get('reason') or 'too few images'})", file=sys.stderr)  # fmt: skip
            removals[depths] = None
            continue
        verdict = "lower" if interval["high"] < 0 else "higher" if interval["low"] > 0 else "interval spans 0"
        removals[depths] = Removal(depths, group["delta_psnr"], interval["low"], interval["high"], verdict)
    return removals


def with_recovery(experiment: dict) -> dict[tuple[int, ...], Removal]:
    """The experiment's effects of ``a2b`` on top of the rest of the parent, as removal minus parent."""
    removals = {}
    for effect in experiment["effects"]:
        if effect["block"] == BLOCK and effect["family"] == "attention" and effect["kind"] == "drop":
            depths = tuple(experiment["groups"][effect["group"]])
            # The effect is parent minus removal; the removal's change is its negative.
            removals[depths] = Removal(
                depths, -effect["estimate_db"], -effect["high_db"], -effect["low_db"], effect["verdict"]
            )
    return removals


def interval_text(removal: Removal) -> str:
    return f"{removal.change_db:+.3f} [{removal.low_db:+.3f}, {removal.high_db:+.3f}]"


def draw(rows: list[tuple[Removal, Removal]], out: Path) -> None:
    figure, axes = plt.subplots(figsize=(7.0, 4.2))
    positions = range(len(rows))
    for offset, series, colour, label in (
        (-0.12, 0, "#9467bd", "test time, no recovery (nas ablate, remove; 95% simultaneous over images)"),
        (0.12, 1, "#1f77b4", "fine-tuned after removal (inherited experiment; 95% simultaneous)"),
    ):
        removals = [row[series] for row in rows]
        estimate = [r.change_db for r in removals]
        spread = [[r.change_db - r.low_db for r in removals], [r.high_db - r.change_db for r in removals]]
        axes.errorbar([p + offset for p in positions], estimate, yerr=spread, fmt="o", ms=4, capsize=3,
                      color=colour, label=label)  # fmt: skip
    axes.axhline(0.0, color="#555555", lw=0.8)
    axes.set_xticks(list(positions), [f"depths {group_text(row[0].depths)}" for row in rows])
    axes.set_ylabel("PSNR change on Set5 ×2 (dB)")
    axes.set_yscale("symlog", linthresh=0.1)
    axes.set_title("A2N ×2: removing the attention of four depths, without and with recovery", fontsize=9)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1))  # below: the intervals fill the axes
    figure.tight_layout()
    save_figure(figure, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", type=Path, default=ABLATION, help="nas ablate's ablation.json")
    parser.add_argument("--experiment", type=Path, default=EXPERIMENT, help="nas report's experiment.json")
    parser.add_argument("--out", type=Path, default=FIGURE, help="the PNG to write")
    args = parser.parse_args()
    try:
        ablation, experiment = (json.loads(path.read_text()) for path in (args.ablation, args.experiment))
    except (OSError, ValueError) as error:
        parser.error(f"cannot read the results to compare: {error}")
    ablated = test_time(ablation)
    recovered = with_recovery(experiment)
    for depths in sorted(set(ablated) ^ set(recovered)):
        print(
            f"left out: depths {group_text(depths)} are in only one of the ablation and the experiment", file=sys.stderr
        )
    rows = [
        (at_test, recovered[depths]) for depths, at_test in sorted(ablated.items()) if at_test and depths in recovered
    ]
    if not rows:
        raise SystemExit("the ablation and the experiment share no depth group with intervals; nothing to compare")
    print("| depths | test time, no recovery (dB) | | fine-tuned after removal (dB) | A2B there |")
    print("|---|---|---|---|---|")
    for at_test, after in rows:
        print(
            f"| {group_text(at_test.depths)} | {interval_text(at_test)} | {at_test.verdict} | "
            f"{interval_text(after)} | {after.verdict} |"
        )
    draw(rows, args.out)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
