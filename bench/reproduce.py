"""Re-trains published runs from a committed study folder and compares their PSNR with the recorded one.

A run is reproduced as a trial of its study trains it: the same genotype, seed, device kind and one torch thread,
with the study's pinned space (``space.json``: budget, data, parent weights and their hash; the files it names are
pinned relative to the checkout, so they resolve in this one wherever it lies). By default two runs are re-trained,
the first and the last trained row of ``trials-experiment.csv``; ``--trials`` names others.

Whether the re-trained PSNR should equal the recorded one to the last bit depends on the CPU: torch picks its
kernels by the CPU's features (``nas.core.precision.KERNEL_FLAGS``, recorded in the study's ``environment.json``).
Where this CPU has the study's, a run reproduces within 0.001 dB (bit-identical is expected); where it has others,
or the study recorded none and its CPU model differs from this one, within 0.05 dB (rounding differences grow
through a training: a published from-scratch run re-trained 0.036 dB away on another CPU kind). The script says
which it applied.

Usage: python3 bench/reproduce.py [STUDY] [--trials N N ...]
       (STUDY: default results/published/sr_light_inherited; prints the table and records it in
       bench/reproduce.json under the study's folder name, beside the other studies' records)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from nas.core import networks, training
from nas.core.genotypes import Genotype
from nas.core.spaces import SearchSpace
from nas.study.folder import Kind, StudyError, StudyFolder
from nas.study.machine import environment
from nas.study.records import Outcome
from nas.trained import parents

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("reproduce.json")
DEFAULT_STUDY = ROOT / "results" / "published" / "sr_light_inherited"
TOLERANCE_DB = 0.001  # the same kernels: bit-identical, up to how the PSNR is printed
# Other kernels (bfloat16 sums in another order) change a run by up to a few hundredths of a dB: a published
# from-scratch run re-trained 0.036 dB away on another CPU kind, an inherited one 0.002 dB (bench/RESULTS.md).
OTHER_KERNELS_DB = 0.05
THREADS = 1  # as a trial of a study with resources.cpu 1 trains
COLUMNS = ("number", "arm", "genotype", "seed", "psnr", "outcome")  # what a re-training reads of a row


def chosen_rows(trained: pd.DataFrame, trials: list[int] | None) -> pd.DataFrame:
    """The rows of the named trial numbers, or the first and the last trained row."""
    if trials is None:
        ordered = trained.sort_values("number")
        return ordered.iloc[[0, -1]].drop_duplicates("number")  # one row if the study has one
    missing = sorted(set(trials) - set(trained["number"]))
    if missing:
        sys.exit(f"trials {missing}: not trained rows of the study; choose among {sorted(trained['number'])}")
    return trained[trained["number"].isin(trials)]


def expectation(folder: StudyFolder, machine: dict) -> tuple[float, str]:
    """The tolerance a re-training here is held to, and why: bit-identity where this CPU has the kernels the study's
    ran with, else a few thousandths of a dB."""
    runs = folder.environment_runs()
    recorded = {tuple(run["cpu_kernel_flags"]) for run in runs if "cpu_kernel_flags" in run}
    here = tuple(machine["cpu_kernel_flags"])
    if recorded:
        if recorded == {here}:
            return TOLERANCE_DB, f"this CPU has the study's kernel features ({', '.join(here)}): bit-identical expected"
        seen = "; ".join(", ".join(flags) for flags in sorted(recorded))
        return OTHER_KERNELS_DB, f"this CPU's kernel features ({', '.join(here)}) differ from the study's ({seen})"
    cpus = {str(run.get("cpu")) for run in runs}
    if cpus == {machine["cpu"]}:
        return TOLERANCE_DB, f"the study ran on this CPU model ({machine['cpu']}): bit-identical expected"
    return OTHER_KERNELS_DB, (
        f"the study recorded no kernel features and ran on {', '.join(sorted(cpus))}, not this {machine['cpu']}"
    )


def reproduce(space: SearchSpace, parent: networks.SRNetwork | None, row: pd.Series, tolerance: float) -> dict:
    """Re-trains ``row``'s genotype and seed with the study's ``space`` and ``parent`` network (None: from scratch)."""
    started = time.perf_counter()
    _, result = training.train_network(
        Genotype.parse(row["genotype"]), space.proxy, space.data, int(row["seed"]), device="cpu", threads=THREADS,
        measure_untrained=False, parent=parent,
    )  # fmt: skip
    difference = result.psnr - float(row["psnr"])
    return {
        "trial": int(row["number"]), "arm": row["arm"], "genotype": row["genotype"], "seed": int(row["seed"]),
        "recorded_psnr": float(row["psnr"]), "retrained_psnr": result.psnr, "difference_db": difference,
        "reproduced": abs(difference) <= tolerance, "seconds": time.perf_counter() - started,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", type=Path, default=DEFAULT_STUDY, help="a study folder with an experiment")
    parser.add_argument("--trials", type=int, nargs="+", help="trial numbers of trials-experiment.csv to re-train")
    args = parser.parse_args()
    folder = StudyFolder(args.study.resolve())
    if not folder.trials_csv_of(Kind.EXPERIMENT).is_file():
        parser.error(f"{args.study}: no trials-experiment.csv; give a study folder whose experiment has run")
    rows = pd.read_csv(folder.trials_csv_of(Kind.EXPERIMENT))
    missing = sorted(set(COLUMNS) - set(rows.columns))
    if missing:
        parser.error(f"{folder.trials_csv_of(Kind.EXPERIMENT)}: no column {', '.join(missing)}; not a study's record")
    trained = rows[rows["outcome"] == Outcome.TRAINED.value]
    try:
        space = folder.space()
    except StudyError as error:
        parser.error(str(error))
    machine = environment([])
    tolerance, why = expectation(folder, machine)
    print(f"tolerance {tolerance} dB: {why}")
    parent = parents.network(space)  # read and checked against its hash once
    runs = [reproduce(space, parent, row, tolerance) for _, row in chosen_rows(trained, args.trials).iterrows()]
    print(f"{'trial':>5}  {'arm':<24} {'seed':>4}  {'recorded':>10}  {'re-trained':>10}  {'Δ dB':>9}  {'s':>5}  within")
    for run in runs:
        print(f"{run['trial']:>5}  {run['arm']:<24} {run['seed']:>4}  {run['recorded_psnr']:>10.5f}  "
              f"{run['retrained_psnr']:>10.5f}  {run['difference_db']:>+9.6f}  {run['seconds']:>5.0f}  "
              f"{'yes' if run['reproduced'] else 'NO'}")  # fmt: skip
    study_cpus = sorted({str(run.get("cpu")) for run in folder.environment_runs()})
    study = folder.root.relative_to(ROOT) if folder.root.is_relative_to(ROOT) else folder.root
    summary = {"study": str(study), "tolerance_db": tolerance, "tolerance_basis": why, "threads": THREADS,
               "runs": runs, "machine": machine, "study_cpus": study_cpus}  # fmt: skip
    records = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    records[folder.root.name] = summary  # one record per study: reproducing one keeps the others'
    RECORD.write_text(json.dumps(records, indent=2) + "\n")
    print(f"written to {RECORD.relative_to(ROOT)}")
    if not all(run["reproduced"] for run in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
