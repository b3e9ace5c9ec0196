"""Attention ablation by depth: how much a trained network relies on the attention at each depth.

A2N (arXiv 2104.09497, "attention dropout") switches the attention of chosen depths off at test time and
measures the PSNR lost. Here the switch is ``attention_switched_off``, a context manager that puts forward hooks
on the slots' modules and removes them on exit; no weight is edited, so one network serves every evaluation.

- ``a2b`` slots: the ADM weighs an attention branch and a non-attention branch per image, (w_att, w_plain). The
  hook on the block's ``branch_weights`` probe replaces them: ``remove`` → (0, w_plain), the attention branch's
  output is zeroed and the other branch keeps its weight; ``renormalise`` → (0, 1), the attention branch is
  dropped and the other branch takes the whole weight.
- Other blocks (inside ``nas.core.networks.AttentionSlot``): the hook makes the attention module the identity
  (it returns the module's input), in both modes.

Each depth and each group of depths is reported as ablated minus baseline per image (ΔPSNR, ΔSSIM: negative
means the network needs that attention), their means, and a 95% percentile-bootstrap interval over images
(``scipy.stats.bootstrap`` with the images as the resampled unit, paired: both numbers come from the same
image). It says how stable the mean is over these images, nothing about other networks or retraining; with 5
images it is rough (a normal mean's percentile interval covers about 88% of the time at n = 5, 96% at n = 40).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import nn

from blocks import NO_ATTENTION
from blocks.a2n import AttentionInAttentionBlock
from nas.core.networks import AttentionSlot, SRNetwork
from nas.errors import InputError
from nas.sr import evaluate, protocol
from nas.sr.data import ImagePair
from nas.trained.checkpoints import TrainedNetwork

MODES = ("remove", "renormalise")
CONFIDENCE = 0.95
RESAMPLES = 9999
BOOTSTRAP_SEED = 0  # a fixed seed: the same numbers on every run
DEFAULT_GROUP_COUNT = 4  # consecutive groups of attention depths when --groups is not given
INTERVAL_METHOD = (
    f"{CONFIDENCE:.0%} percentile bootstrap over images (scipy.stats.bootstrap, {RESAMPLES} resamples, "
    f"seed {BOOTSTRAP_SEED}), paired by image"
)


def _removed(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros_like(weights[:, 0]), weights[:, 1]], dim=1)


def _renormalised(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros_like(weights[:, 0]), torch.ones_like(weights[:, 1])], dim=1)


def _identity(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> torch.Tensor:
    return inputs[0]


BRANCH_WEIGHT_HOOKS = {"remove": _removed, "renormalise": _renormalised}


def _switch_off(slot: nn.Module, mode: str) -> torch.utils.hooks.RemovableHandle:
    if isinstance(slot, AttentionInAttentionBlock):
        return slot.branch_weights.register_forward_hook(BRANCH_WEIGHT_HOOKS[mode])
    if isinstance(slot, AttentionSlot):
        return slot.attention.register_forward_hook(_identity)
    raise TypeError(f"a slot of type {type(slot).__name__} has no attention switch")


@contextmanager
def attention_switched_off(network: SRNetwork, depths: Iterable[int], mode: str) -> Iterator[None]:
    """Within the ``with`` block, the attention of the slots at ``depths`` is off (see the module docstring for
    what ``mode`` does); on exit, even after an exception, the hooks are removed and the network is as before.

    Raises:
        ValueError: ``mode`` is not one of ``MODES``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    handles = []
    try:
        for depth in depths:
            handles.append(_switch_off(network.slots[depth], mode))
        yield
    finally:
        for handle in handles:
            handle.remove()


def attention_depths(trained: TrainedNetwork) -> list[int]:
    """The depths whose slot holds attention (any block but ``none``)."""
    return [depth for depth, block in enumerate(trained.genotype.blocks) if block != NO_ATTENTION]


def default_groups(depths: Sequence[int]) -> list[tuple[int, ...]]:
    """``depths`` cut into ``DEFAULT_GROUP_COUNT`` consecutive groups of (nearly) equal size."""
    parts = np.array_split(np.asarray(depths, dtype=int), min(DEFAULT_GROUP_COUNT, len(depths)))
    return [tuple(int(d) for d in part) for part in parts if len(part)]


def parse_groups(text: str, depth: int) -> list[tuple[int, ...]]:
    """Groups written as ``0-3,4-7,12`` (inclusive ranges or single depths), each within 0..depth-1.

    Raises:
        InputError: a group is not a depth or a range of depths of the network.
    """
    groups = []
    for item in text.split(","):
        first, _, last = item.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            low, high = 0, -1
        if not 0 <= low <= high < depth:
            raise InputError(
                f"--groups: {item.strip()!r} is not a depth or range of depths 0-{depth - 1}; write e.g. 0-3,4-7"
            )
        groups.append(tuple(range(low, high + 1)))
    return groups


def paired_interval(deltas: np.ndarray) -> tuple[float, float]:
    """The ``CONFIDENCE`` percentile-bootstrap interval of the mean of per-image ``deltas`` (images resampled).

    Identical deltas (a switch that changes nothing) give a zero-width interval at their value; fewer than two
    images give none (NaN).
    """
    if len(deltas) < 2:
        return float("nan"), float("nan")
    if np.ptp(deltas) == 0:
        return float(deltas[0]), float(deltas[0])
    result = stats.bootstrap(
        (deltas,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _json_interval(deltas: np.ndarray) -> list[float] | None:
    low, high = paired_interval(deltas)
    return None if np.isnan(low) else [low, high]


@dataclass(frozen=True)
class AblationEffect:
    """Switching off the attention of ``depths`` in ``mode``: ablated minus baseline, per image."""

    depths: tuple[int, ...]
    mode: str
    delta_psnr: np.ndarray
    delta_ssim: np.ndarray

    @property
    def label(self) -> str:
        """``7`` for one depth, ``0-3`` for a run of depths, ``1+5+9`` otherwise."""
        first, last = self.depths[0], self.depths[-1]
        if len(self.depths) == 1:
            return str(first)
        if self.depths == tuple(range(first, last + 1)):
            return f"{first}-{last}"
        return "+".join(map(str, self.depths))

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "delta_psnr": float(self.delta_psnr.mean()),
            "interval": _json_interval(self.delta_psnr),
            "delta_ssim": float(self.delta_ssim.mean()),
            "interval_ssim": _json_interval(self.delta_ssim),
            "images": [
                {"name": name, "delta_psnr": float(p), "delta_ssim": float(s)}
                for name, p, s in zip(names, self.delta_psnr, self.delta_ssim, strict=True)
            ],
        }


@dataclass(frozen=True)
class Ablation:
    """The baseline scores of a network and the effect of switching its attention off, per depth and group."""

    network: str  # genotype and source, for labels
    blocks: tuple[str, ...]  # the block at each depth
    baseline: evaluate.EvaluationResult
    modes: tuple[str, ...]
    depths: list[AblationEffect]  # one per attention depth and mode
    groups: list[AblationEffect]  # one per group and mode; the last group holds every attention depth
    attention_weights: dict[int, np.ndarray]  # a2b depth → the ADM's attention-branch weight on each image

    @property
    def names(self) -> list[str]:
        return [score.name for score in self.baseline.images]

    def weight_summary(self, depth: int) -> dict[str, Any] | None:
        """Mean, standard deviation, range and per-image values of the ADM weight at ``depth`` (None: not a2b)."""
        if depth not in self.attention_weights:
            return None
        values = self.attention_weights[depth]
        return {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "images": [float(v) for v in values],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "baseline": self.baseline.to_json(),
            "mode": self.modes[0] if len(self.modes) == 1 else "both",
            "modes": list(self.modes),
            "depths": [
                {
                    "depth": effect.depths[0],
                    "block": self.blocks[effect.depths[0]],
                    **effect.to_json(self.names),
                    "attention_weight": self.weight_summary(effect.depths[0]),
                }
                for effect in self.depths
            ],
            "groups": [
                {"group": effect.label, "depths": list(effect.depths), **effect.to_json(self.names)}
                for effect in self.groups
            ],
            "interval_method": INTERVAL_METHOD,
            "protocol": protocol.describe(self.baseline.scale),
        }

    def to_text(self) -> str:
        """The ablation as a text table: one row per depth, then one per group, one column pair per mode."""
        baseline = self.baseline
        lines = [
            f"{self.network}: baseline {baseline.mean_psnr:.3f} dB / {baseline.mean_ssim:.4f} on "
            f"{len(baseline.images)} images (Y, border {baseline.scale})",
            f"Δ = attention switched off − baseline, mean over images; [interval]: {INTERVAL_METHOD}",
            f"{'depth':>6} {'block':<8} {'ADM w_att':>14}  "
            + "  ".join(f"{mode + ' ΔPSNR [interval]':<33} {'ΔSSIM':>7}" for mode in self.modes),
        ]
        by_key = {(e.depths, e.mode): e for e in self.depths + self.groups}
        for depth in sorted({e.depths[0] for e in self.depths}):
            weight = self.weight_summary(depth)
            adm = f"{weight['mean']:.3f} ± {weight['std']:.3f}" if weight else "-"
            cells = "  ".join(_cell(by_key[(depth,), mode]) for mode in self.modes)
            lines.append(f"{depth:>6} {self.blocks[depth]:<8} {adm:>14}  {cells}")
        for group in dict.fromkeys(e.depths for e in self.groups):
            cells = "  ".join(_cell(by_key[group, mode]) for mode in self.modes)
            label = by_key[group, self.modes[0]].label
            lines.append(f"{'group ' + label:>15} {'':>14}  {cells}")
        lines.append("ADM w_att: the attention branch's ADM weight, mean ± standard deviation over images (a2b only)")
        return "\n".join(lines)


def resolve_groups(trained: TrainedNetwork, text: str | None) -> list[tuple[int, ...]]:
    """The groups of attention depths to switch off together: ``text`` (``parse_groups``) or the default
    consecutive groups, each kept to its attention depths, then one group of every attention depth.

    Raises:
        InputError: a group is malformed or holds no attention.
    """
    with_attention = attention_depths(trained)
    if not with_attention:
        raise InputError(f"network {trained.genotype} holds no attention to switch off")
    chosen = default_groups(with_attention) if text is None else parse_groups(text, trained.genotype.depth)
    groups = []
    for group in chosen:
        kept = tuple(d for d in group if d in with_attention)
        if not kept:
            raise InputError(f"--groups: depths {group[0]}-{group[-1]} hold no attention (only 'none' blocks)")
        groups.append(kept)
    return [g for g in groups if g != tuple(with_attention)] + [tuple(with_attention)]


class _Evaluator:
    """Per-image scores of one network on cached image pairs; each distinct switch setting is evaluated once.

    On the CPU, ``workers`` images run at a time on Python threads, each torch op on one thread: the convolutions
    release the GIL, so the cores stay busy without synchronising torch's threads inside every small op (which
    costs 3-4x the CPU time on a machine shared with other jobs).
    """

    def __init__(
        self, trained: TrainedNetwork, pairs: Sequence[ImagePair], device: str, tile: int | None, workers: int
    ) -> None:
        self.network = trained.network
        self.pairs = pairs
        self.device = device
        self.tile = tile
        self.workers = workers
        self.cache: dict[frozenset[tuple[int, str]], evaluate.EvaluationResult] = {}

    def score(self, pair: ImagePair) -> evaluate.ImageScore:
        with torch.inference_mode():  # thread-local, so set in the worker
            return evaluate.evaluate(self.network, [pair], self.network.scale, self.device, tile=self.tile).images[0]

    def scores(self) -> evaluate.EvaluationResult:
        with ThreadPoolExecutor(self.workers) as pool:
            return evaluate.EvaluationResult(list(pool.map(self.score, self.pairs)), self.network.scale)

    def switched_off(self, depths: tuple[int, ...], mode: str) -> evaluate.EvaluationResult:
        # Modes differ only for a2b slots: elsewhere both make the attention the identity, evaluated once.
        key = frozenset(
            (d, mode if isinstance(self.network.slots[d], AttentionInAttentionBlock) else "identity") for d in depths
        )
        if key not in self.cache:
            with attention_switched_off(self.network, depths, mode):
                self.cache[key] = self.scores()
        return self.cache[key]


def _attention_weight_recorder(
    values: list[float],
) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
    def record(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> None:
        values.extend(weights[:, 0].tolist())

    return record


def _baseline(evaluator: _Evaluator) -> tuple[evaluate.EvaluationResult, dict[int, np.ndarray]]:
    """The unablated scores, and each a2b slot's ADM attention-branch weight per image (mean over its tiles)."""
    slots = evaluator.network.slots
    a2b_slots = {d: slot for d, slot in enumerate(slots) if isinstance(slot, AttentionInAttentionBlock)}
    a2b_depths = list(a2b_slots)
    seen: dict[int, list[float]] = {d: [] for d in a2b_depths}
    per_image: dict[int, list[float]] = {d: [] for d in a2b_depths}
    hooks = [a2b_slots[d].branch_weights.register_forward_hook(_attention_weight_recorder(seen[d])) for d in a2b_depths]
    images = []
    try:
        for pair in evaluator.pairs:  # one at a time, so that the recorded weights belong to this image
            images.append(evaluator.score(pair))
            for depth in a2b_depths:
                per_image[depth].append(float(np.mean(seen[depth])))
                seen[depth].clear()
    finally:
        for hook in hooks:
            hook.remove()
    return evaluate.EvaluationResult(images, evaluator.network.scale), {d: np.array(v) for d, v in per_image.items()}


def _effect(
    evaluator: _Evaluator, baseline: evaluate.EvaluationResult, depths: tuple[int, ...], mode: str
) -> AblationEffect:
    ablated = evaluator.switched_off(depths, mode)
    psnr = np.array([a.psnr - b.psnr for a, b in zip(ablated.images, baseline.images, strict=True)])
    ssim = np.array([a.ssim - b.ssim for a, b in zip(ablated.images, baseline.images, strict=True)])
    return AblationEffect(depths, mode, psnr, ssim)


def ablate(
    trained: TrainedNetwork,
    pairs: Sequence[ImagePair],
    groups: Sequence[tuple[int, ...]],
    modes: Sequence[str] = MODES,
    device: str = "cpu",
    tile: int | None = None,
) -> Ablation:
    """Evaluates ``trained`` on ``pairs``, then with the attention of each depth, and of each group, switched off.

    Args:
        trained: The network (already on ``device``).
        pairs: The LR/HR images, made once and reused by every evaluation.
        groups: Depths switched off together (``resolve_groups``).
        modes: ``remove`` and/or ``renormalise`` (they differ for ``a2b`` slots only).
        device: Torch device.
        tile: LR tile size for large images (``nas.sr.evaluate.evaluate``).

    On the CPU it evaluates as many images at a time as torch has threads, each op on one thread (``_Evaluator``).
    """
    on_cpu = torch.device(device).type == "cpu"
    threads = torch.get_num_threads()
    evaluator = _Evaluator(trained, pairs, device, tile, workers=threads if on_cpu else 1)
    torch.set_num_threads(1 if on_cpu else threads)
    try:
        baseline, weights = _baseline(evaluator)
        depth_effects = [
            _effect(evaluator, baseline, (depth,), mode) for depth in attention_depths(trained) for mode in modes
        ]
        group_effects = [_effect(evaluator, baseline, tuple(group), mode) for group in groups for mode in modes]
    finally:
        torch.set_num_threads(threads)
    label = f"{trained.genotype} ({trained.source})"
    return Ablation(label, trained.genotype.blocks, baseline, tuple(modes), depth_effects, group_effects, weights)


def _cell(effect: AblationEffect) -> str:
    low, high = paired_interval(effect.delta_psnr)
    return f"{effect.delta_psnr.mean():+7.3f} [{low:+.3f}, {high:+.3f}]  {effect.delta_ssim.mean():+.4f}"
