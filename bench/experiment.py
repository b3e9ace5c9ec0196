"""The sr_tiny designed experiment: what `nas experiment --plan` estimates, and what the run then takes.

Plans the experiment of search_spaces/sr_tiny.yaml (its `experiment:` section) on a fresh results folder,
runs it with a local Ray (`nas experiment`, as a user does), and compares the plan's wall-time estimate with
the measured wall time, and the plan's power numbers with what the analysis then found.

Usage: python3 bench/experiment.py   (prints a table, writes bench/experiment.json)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "search_spaces" / "sr_tiny.yaml"


def nas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, check=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as results:
        plan = json.loads(nas("experiment", "--space", str(SPACE), "--results", results, "--plan", "--json").stdout)
        started = time.perf_counter()
        ran = json.loads(nas("experiment", "--space", str(SPACE), "--results", results, "--json").stdout)
        wall = time.perf_counter() - started
        nas("report", str(Path(results) / "sr_tiny"))
        analysed = json.loads((Path(results) / "sr_tiny" / "report" / "experiment.json").read_text())
    record = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_end": os.getloadavg()[0],
        "runs_planned": plan["runs"], "runs_finished": ran["counts"]["finished"], "trained": ran["counts"]["trained"],
        "duplicates": ran["counts"]["duplicates"], "failed": ran["counts"]["failed"],
        "plan_estimated_s": plan["estimated_seconds"], "plan_time_source": plan["time_source"],
        "measured_wall_s": wall,
        "plan_families": plan["families"],
        "measured_families": analysed["noise"],
        "depth_tests": analysed["depth_tests"], "verdict": analysed["verdict"],
    }  # fmt: skip
    (Path(__file__).with_name("experiment.json")).write_text(json.dumps(record, indent=2) + "\n")
    print(f"runs planned / finished: {record['runs_planned']} / {record['runs_finished']}; plan estimate "
          f"{record['plan_estimated_s']:.0f} s, measured wall {wall:.0f} s")  # fmt: skip
    print("| contrast family | planned paired sd dB | measured paired sd dB: median [calmest, noisiest] | seeds |")
    print("|---|---|---|---|")
    planned = plan["families"][0]  # before any run, one assumed or measured sd serves every family
    for family in record["measured_families"]:
        print(
            f"| {family['family']} | {planned['paired_sd_db']:.3f} ({planned['source']}) | "
            f"{family['median_sd_db']:.3f} [{family['low_sd_db']:.3f}, {family['high_sd_db']:.3f}] | "
            f"{family['seeds_for_margin']} |"
        )
    print("\n".join(record["verdict"]))


if __name__ == "__main__":
    main()
