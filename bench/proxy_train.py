"""Proxy-trainer throughput against a training loop written the way SR repositories write it.

The reference loop keeps the decoded images in memory (as the harness does) and cuts each sample in a
``torch.utils.data.Dataset`` with numpy: random crop aligned between LR and HR, random flips and 90° rotation,
HWC→CHW float32; a ``DataLoader`` (main process, 2-core machine) collates batches; the network runs in
float32 NCHW with PyTorch's default Adam. The harness's trainer (``nas.core.training.train``) uses the on-device patch
sampler, channels_last, the fused Adam kernel and, where the hardware computes it natively, bfloat16 autocast.
Both train the same network (same genotype and seed) for the same iterations on the same machine, each timed
from its first iteration. Target: at least 2× on CPU.

The two loops run alternately, ``--rounds`` times each, so that a drift in the machine's speed (shared CPUs
vary by ±15 % from minute to minute) hits both; the speedup is the median of the rounds' ratios. A profiled
window of each loop then splits an iteration into convolutions (forward and backward) and everything else.
Last, each block of sr_tiny is timed alone, as ``none`` followed by the block in every other slot, at sr_tiny's
batch and patch: how much the harness speeds up each kind of block at that size.

Usage: python3 bench/proxy_train.py [--device cpu|cuda] [--rounds 3]
       (prints three tables, writes bench/proxy_train.json)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader, Dataset

from nas import devices
from nas.core import networks, spaces, training
from nas.core.genotypes import Genotype, from_placement
from nas.core.settings import ProxyBudget
from nas.sr import data

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # (space file, genotype, iterations timed): a tiny and an A2N-sized network
    ("sr_tiny.yaml", "x2.c16.u12:ca-a2b-lia-pa;ca(reduction=4)", 300),
    ("sr_light.yaml", "x2.c40.u24:ca-a2b-none-esa-lia-pa-psa_p-shuffle-spatial-a2b-none-esa-lia-pa-psa_p-shuffle", 4),
]
PROFILE_WARMUP, PROFILE_ITERATIONS = 5, 20  # the profiled window per loop; halves of a shorter case
PER_BLOCK_SPACE, PER_BLOCK_ITERATIONS = "sr_tiny.yaml", 150


class NumpyPatches(Dataset):
    """Per-sample numpy crops and augmentation, as in BasicSR's paired dataset."""

    def __init__(self, pairs: list[data.ImagePair], scale: int, patch: int, length: int, seed: int) -> None:
        self.pairs, self.scale, self.patch, self.length = pairs, scale, patch, length
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pairs[self.rng.integers(len(self.pairs))]
        top = self.rng.integers(pair.lr.shape[0] - self.patch + 1)
        left = self.rng.integers(pair.lr.shape[1] - self.patch + 1)
        lr = pair.lr[top : top + self.patch, left : left + self.patch]
        s = self.scale
        hr = pair.hr[top * s : (top + self.patch) * s, left * s : (left + self.patch) * s]
        if self.rng.random() < 0.5:
            lr, hr = lr[:, ::-1], hr[:, ::-1]
        if self.rng.random() < 0.5:
            lr, hr = lr[::-1], hr[::-1]
        if self.rng.random() < 0.5:
            lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)

        def to_tensor(image: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32) / 255.0)

        return to_tensor(lr), to_tensor(hr)


def reference_step(genotype: Genotype, search_space: spaces.SearchSpace, budget: ProxyBudget, device: str) -> Callable:
    """One iteration of the conventional loop per call, for ``budget.iterations`` calls."""
    pairs = [
        p for p in data.source_pairs(search_space.data.train, "train", genotype.scale)
        if min(p.lr.shape[:2]) >= budget.patch_size
    ]  # fmt: skip
    torch.manual_seed(0)
    network = networks.build(genotype).to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=budget.lr, betas=(0.9, 0.99))
    samples = NumpyPatches(pairs, genotype.scale, budget.patch_size, budget.iterations * budget.batch_size, 0)
    batches = iter(DataLoader(samples, batch_size=budget.batch_size, num_workers=0))

    def step() -> None:
        lr, hr = next(batches)
        loss = F.l1_loss(network(lr.to(device)), hr.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def harness_step(
    genotype: Genotype, search_space: spaces.SearchSpace, budget: ProxyBudget, device: str
) -> training.ProxyStep:
    return training.ProxyStep(
        training.build_network(genotype, 0, device), genotype, search_space.data.train, 0, device, budget
    )


def reference_patches_per_second(
    genotype: Genotype, search_space: spaces.SearchSpace, budget: ProxyBudget, device: str
) -> float:
    step = reference_step(genotype, search_space, budget, device)
    start = time.perf_counter()
    for _ in range(budget.iterations):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return budget.iterations * budget.batch_size / (time.perf_counter() - start)


def alternating_throughputs(
    genotype: Genotype, search_space: spaces.SearchSpace, budget: ProxyBudget, device: str, rounds: int
) -> dict[str, Any]:
    """Median images per second of ``rounds`` alternating runs of each loop, and the rounds' speedups."""
    references, harnesses = [], []
    for _ in range(rounds):
        references.append(reference_patches_per_second(genotype, search_space, budget, device))
        ours = training.train(genotype, budget, search_space.data, seed=0, device=device, measure_untrained=False)
        harnesses.append(ours.patches_per_second)
    ratios = [h / r for h, r in zip(harnesses, references, strict=True)]
    return {
        "reference_images_per_s": statistics.median(references),
        "harness_images_per_s": statistics.median(harnesses),
        "speedup": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios),
        "harness_precision": ours.precision,
    }  # fmt: skip


def per_block_rows(device: str, rounds: int) -> list[dict[str, Any]]:
    search_space = spaces.load(ROOT / "search_spaces" / PER_BLOCK_SPACE)
    budget = replace(search_space.proxy, iterations=PER_BLOCK_ITERATIONS)
    rows = []
    for block in search_space.choices:
        genotype = from_placement(search_space, ["none"] + [block] * (search_space.depth - 1))
        rows.append({"block": block, "genotype": str(genotype), "iterations": budget.iterations,
                     **alternating_throughputs(genotype, search_space, budget, device, rounds)})  # fmt: skip
    return rows


def print_throughputs(label: str, row: dict[str, Any]) -> None:
    spread = f"({row['speedup_min']:.2f}–{row['speedup_max']:.2f})"
    print(
        f"{label:<20} {row['reference_images_per_s']:16.1f} {row['harness_images_per_s']:14.1f} "
        f"{row['speedup']:7.2f}× {spread:>12}  {row['harness_precision']}"
    )


def split_ms_per_iteration(step: Callable, warmup: int, iterations: int, device: str) -> tuple[float, float]:
    """(convolution, everything else) milliseconds per iteration, from the profiler's self times of the ops
    on the device (CPU time on a CPU, kernel time on a GPU)."""
    for _ in range(warmup):
        step()
    on_cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    with profile(activities=activities) as profiled:
        for _ in range(iterations):
            step()
    times = {e.key: e.self_device_time_total if on_cuda else e.self_cpu_time_total for e in profiled.key_averages()}
    conv = sum(t for key, t in times.items() if "conv" in key)
    return conv / iterations / 1e3, (sum(times.values()) - conv) / iterations / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=devices.default_device())
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each loop per case")
    args = parser.parse_args()
    device = args.device
    rows = []
    for space_file, genotype_id, iterations in CASES:
        search_space = spaces.load(ROOT / "search_spaces" / space_file)
        genotype = Genotype.parse(genotype_id)
        budget = replace(search_space.proxy, iterations=iterations)
        warmup, window = min(PROFILE_WARMUP, iterations // 2), min(PROFILE_ITERATIONS, iterations - iterations // 2)
        profiled = replace(budget, iterations=warmup + window)
        ref_conv, ref_other = split_ms_per_iteration(
            reference_step(genotype, search_space, profiled, device), warmup, window, device
        )
        our_conv, our_other = split_ms_per_iteration(
            harness_step(genotype, search_space, profiled, device), warmup, window, device
        )
        rows.append({
            "space": search_space.name, "genotype": genotype_id, "iterations": iterations,
            "batch": budget.batch_size, "patch": budget.patch_size, "rounds": args.rounds,
            **alternating_throughputs(genotype, search_space, budget, device, args.rounds),
            "profiled_ms_per_iteration": {
                "reference": {"convolution": ref_conv, "other": ref_other},
                "harness": {"convolution": our_conv, "other": our_other},
            },
        })  # fmt: skip
    blocks = per_block_rows(device, args.rounds)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds")
    columns = f"{'reference img/s':>16} {'harness img/s':>14} {'speedup':>8} {'(min–max)':>12}  precision"
    print(f"{'space, batch×patch':<20} {columns}")
    for row in rows:
        print_throughputs(f"{row['space']}, {row['batch']}×{row['patch']}²", row)
    print("\nprofiled ms per iteration (op self times): reference → harness (speedup)")
    print(f"{'space':<9} {'convolutions':>26} {'everything else':>26}")
    for row in rows:
        split = row["profiled_ms_per_iteration"]
        cells = []
        for part in ("convolution", "other"):
            ref, ours = split["reference"][part], split["harness"][part]
            cells.append(f"{ref:7.1f} → {ours:6.1f} ({ref / ours:4.2f}×)")
        print(f"{row['space']:<9} {cells[0]:>26} {cells[1]:>26}")
    print(f"\neach block alone, none then the block in every other slot: {PER_BLOCK_SPACE}, {PER_BLOCK_ITERATIONS} it.")
    print(f"{'block':<20} {columns}")
    for row in blocks:
        print_throughputs(row["block"], row)
    record = {
        "device": device,
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "rows": rows,
        "per_block": blocks,
    }
    Path(__file__).with_name("proxy_train.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
