"""Proxy-trainer throughput against a training loop written the way SR repositories write it.

The reference loop keeps the decoded images in memory (as the harness does) and cuts each sample in a
``torch.utils.data.Dataset`` with numpy: random crop aligned between LR and HR, random flips and 90° rotation,
HWC→CHW float32; a ``DataLoader`` (main process, 2-core machine) collates batches; the network runs in
float32 NCHW. The harness's trainer (``nas.train.train``) uses the on-device patch sampler, channels_last and,
where the hardware computes it natively, bfloat16 autocast. Both train the same network (same genotype and
seed) for the same iterations on the same machine, in one run. Target: at least 2× on CPU.

Usage: python3 bench/proxy_train.py [--device cpu|cuda]  (prints a table, writes bench/proxy_train.json)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from nas import data, model, space, train
from nas.genotype import Genotype

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # (space file, genotype, iterations timed): a tiny and an A2N-sized network
    ("sr_tiny.yaml", "x2.c16.u12:ca-a2b-lia-pa;ca(reduction=4)", 300),
    ("sr_light.yaml", "x2.c40.u24:ca-a2b-none-esa-lia-pa-psa_p-shuffle-spatial-a2b-none-esa-lia-pa-psa_p-shuffle", 4),
]
WARMUP = 2


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


def reference_images_per_second(
    genotype: Genotype, search_space: space.SearchSpace, iterations: int, device: str
) -> float:
    budget = search_space.proxy
    pairs = [
        p for p in data.source_pairs(search_space.data.train, "train", genotype.scale)
        if min(p.lr.shape[:2]) >= budget.patch_size
    ]  # fmt: skip
    torch.manual_seed(0)
    network = model.build(genotype).to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=budget.lr, betas=(0.9, 0.99))
    samples = NumpyPatches(pairs, genotype.scale, budget.patch_size, (iterations + WARMUP) * budget.batch_size, 0)
    loader = DataLoader(samples, batch_size=budget.batch_size, num_workers=0)
    for step, (lr, hr) in enumerate(loader):
        if step == WARMUP:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = F.l1_loss(network(lr.to(device)), hr.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return iterations * budget.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=train.default_device())
    device = parser.parse_args().device
    rows = []
    for space_file, genotype_id, iterations in CASES:
        search_space = space.load(ROOT / "search_spaces" / space_file)
        genotype = Genotype.parse(genotype_id)
        reference = reference_images_per_second(genotype, search_space, iterations, device)
        budget = replace(search_space.proxy, iterations=iterations)
        ours = train.train(genotype, search_space, seed=0, device=device, budget=budget)
        rows.append({
            "space": search_space.name, "genotype": genotype_id, "iterations": iterations,
            "batch": budget.batch_size, "patch": budget.patch_size, "reference_images_per_s": reference,
            "harness_images_per_s": ours.images_per_second, "speedup": ours.images_per_second / reference,
            "harness_precision": ours.precision,
        })  # fmt: skip
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'space':<9} {'batch×patch':>11} {'reference img/s':>16} {'harness img/s':>14} {'speedup':>8}  precision")
    for row in rows:
        shape = f"{row['batch']}×{row['patch']}²"
        print(
            f"{row['space']:<9} {shape:>11} {row['reference_images_per_s']:16.1f} "
            f"{row['harness_images_per_s']:14.1f} {row['speedup']:7.2f}×  {row['harness_precision']}"
        )
    record = {
        "device": device,
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "rows": rows,
    }
    Path(__file__).with_name("proxy_train.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
