"""Speed of the MATLAB-exact bicubic on a DIV2K-sized image (2040×1356). Target: under 1 s per image.

Usage: python3 bench/bicubic.py  (prints a table, writes bench/bicubic.json)
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from nas.sr.data import bicubic_downsample

REPEATS = 5


def main() -> None:
    image = np.random.default_rng(0).integers(0, 256, (1356, 2040, 3), dtype=np.uint8)
    rows = []
    for scale in (2, 3, 4):
        bicubic_downsample(image[:600, :600], scale)  # warm-up
        seconds = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            bicubic_downsample(image, scale)
            seconds.append(time.perf_counter() - start)
        rows.append({"scale": scale, "median_s": statistics.median(seconds), "max_s": max(seconds)})
    print(f"{'scale':>5}  {'median s':>9}  {'max s':>7}   (2040x1356 RGB uint8, {REPEATS} runs)")
    for row in rows:
        print(f"{row['scale']:>5}  {row['median_s']:9.3f}  {row['max_s']:7.3f}")
    record = {
        "image": "2040x1356x3 uint8",
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        "rows": rows,
    }
    Path(__file__).with_name("bicubic.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
