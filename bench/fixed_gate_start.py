"""Where the mechanism control of a trained A2N starts: its constant gate at 0.5 against the trained gate's mean.

``fixed_a2b`` in place of A2N's blocks inherits everything but the gate, which becomes a learned constant that
starts at sigmoid(0) = 0.5 (``blocks.fixed_gate``). Before any fine-tuning that is a change of the network's
function, and the published inherited study measured the arm after 150 iterations of recovery. This script
measures the change itself, with no training: Set5 ×2 PSNR (the study's validation, the harness's protocol) of the
released A2N with the pixel-attention gate of the A2N block at a group of depths (the study's groups of four, then
each depth alone) replaced by

- ``0.5``: the constant ``fixed_a2b`` starts from;
- ``trained mean``: the gate's mean per channel over the built-in training images (LR, whole images), the constant
  a mechanism control would start from if it started near the parent's function.

Beside each group, the published study's ``fixed_a2b only g`` arm after recovery (its effect against the parent
fine-tuned with the same seed, per seed), read from ``results/published/sr_light_inherited``.

Needs the released A2N ×2 and Set5 (``../shared/reference``, as search_spaces/sr_light_inherited.yaml names them).

Usage: python3 bench/fixed_gate_start.py   (prints the table, writes bench/fixed_gate_start.json)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from nas.core import inheritance, spaces
from nas.core.experiment_design import group_text
from nas.sr import data, evaluate
from nas.trained import parents

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "search_spaces" / "sr_light_inherited.yaml"
STUDY = ROOT / "results" / "published" / "sr_light_inherited"
OUT = Path(__file__).with_name("fixed_gate_start.json")
GATE = "slots.{depth}.attention.gate"  # the pixel-attention gate probe of the A2N block at a depth
GROUPS = ((0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11), (12, 13, 14, 15))

Replacement = Callable[[int, torch.Tensor], torch.Tensor]  # (depth, gate) -> the gate used instead


@contextmanager
def gates_replaced(network: nn.Module, depths: tuple[int, ...], replacement: Replacement) -> Iterator[None]:
    """The gate probes at ``depths`` return ``replacement(depth, gate)`` while the context lasts."""
    handles = [
        network.get_submodule(GATE.format(depth=depth)).register_forward_hook(
            lambda _module, _inputs, gate, depth=depth: replacement(depth, gate)
        )
        for depth in depths
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def recovered_effects() -> dict[str, list[float]]:
    """Per group label, the published study's ``fixed_a2b only g`` minus the parent, per seed (dB)."""
    runs = pd.read_csv(STUDY / "trials-experiment.csv")
    runs = runs[runs["state"] == "COMPLETE"]
    parent = runs[runs["arm"] == "parent"].set_index("seed")["psnr"]
    effects = {}
    for group in GROUPS:
        arm = runs[runs["arm"] == f"fixed_a2b only {group_text(group)}"].set_index("seed")["psnr"]
        effects[group_text(group)] = [round(float(v), 4) for v in (arm - parent).dropna()]
    return effects


def main() -> None:
    torch.set_num_threads(2)
    space = spaces.load(SPACE)
    network = parents.network(space)
    assert network is not None and space.proxy.init is not None
    scale = space.scale
    validation = data.source_pairs(str(space.data.val), "val", scale)
    training = data.source_pairs(str(space.data.train), "train", scale)
    # The constant a mechanism control now starts from: the harness's own mean of each gate over these images.
    gates = inheritance.gate_means(network, [pair.lr for pair in training])
    means = {depth: gates[GATE.format(depth=depth)] for depth in range(space.depth)}

    def psnr(depths: tuple[int, ...], replacement: Replacement | None) -> float:
        if replacement is None:
            return evaluate.evaluate(network, validation, scale).mean_psnr
        with gates_replaced(network, depths, replacement):
            return evaluate.evaluate(network, validation, scale).mean_psnr

    parent = psnr((), None)
    starts: dict[str, Replacement] = {
        "0.5": lambda _depth, gate: torch.full_like(gate, 0.5),
        "trained mean": lambda depth, gate: means[depth].to(gate.dtype).expand_as(gate),
    }
    recovered = recovered_effects()
    rows = []
    for group in (*GROUPS, *((d,) for d in range(space.depth))):
        row = {"depths": group_text(group)}
        for name, replacement in starts.items():
            row[f"{name} (dB)"] = round(psnr(group, replacement) - parent, 4)
        channels = torch.cat([means[d].flatten() for d in group])
        row["gate mean"] = round(float(channels.mean()), 3)
        row["gate channel range"] = [round(float(channels.min()), 3), round(float(channels.max()), 3)]
        if row["depths"] in recovered:
            row["fixed_a2b only g after 150 iterations (dB, per seed)"] = recovered[row["depths"]]
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "measures": "Set5 x2 PSNR (Y, border = scale) of the released A2N with the A2N block's pixel-attention gate "
        "at the depths replaced, minus the unchanged A2N's; no training. Beside it the published study's "
        "fixed_a2b only g minus the parent after 150 fine-tuning iterations, per seed.",
        "parent_psnr": parent,
        "gate_means_from": "the built-in training images, LR (MATLAB bicubic), whole images",
        "rows": rows,
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
