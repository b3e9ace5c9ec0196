"""Attention ablation by depth: how much a trained network relies on the attention at each depth.

A2N (arXiv 2104.09497, "attention dropout") switches the attention of chosen depths off at test time and
measures the PSNR lost. Here the switch is ``attention_switched_off``, a context manager that puts forward hooks
on the slots' modules and removes them on exit; no weight is edited, so one network serves every evaluation.
The modes remove different things (``MODE_MEANINGS``):

- ``remove`` and ``renormalise`` remove a branch. In an ``a2b`` slot the ADM weighs an attention branch (a
  sigmoid gate made by a 3×3 and a 1×1 conv, gating a 3×3 conv, then another 3×3 conv) and a non-attention
  branch (one 3×3 conv) per image, (w_att, w_plain); the hook on the block's ``branch_weights`` probe makes them
  (0, w_plain) for ``remove`` and (0, 1) for ``renormalise``, so the whole attention branch, its convolutions
  with its gate, is gone. In any other slot (``nas.core.networks.AttentionSlot``) both make the attention module
  the identity.
- ``gate-mean`` removes spatial selectivity only. Every block that declares an attention map (the
  ``attention_map`` probe of ``blocks.registry``) has its gate replaced, through a hook on that probe, by the
  gate's spatial mean per image and channel (per tile with ``tile``): the branch, its convolutions and each
  channel's mean gate level stay, only where the gate is high or low goes. Depths whose block declares no map, or
  whose gate is per channel only (N×C×1×1, already spatially constant), are skipped with that reason.

Each depth and each group of depths is reported per mode as ablated minus baseline per image: what an ablation
found, its JSON and its text are ``nas.trained.ablation_result``; the statistics of each effect (intervals over
images, the images that moved, the dataset PSNR) are ``nas.trained.ablation_statistics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from blocks import NO_ATTENTION
from blocks.a2n import AttentionInAttentionBlock
from nas.core.networks import AttentionSlot, SRNetwork
from nas.errors import InputError
from nas.sr import evaluate
from nas.sr.data import ImagePair
from nas.trained.ablation_result import GATE_MEAN, MODES, Ablation, AblationEffect, SkippedEffect
from nas.trained.ablation_statistics import dataset_psnr
from nas.trained.attention_maps import map_probes
from nas.trained.checkpoints import TrainedNetwork

DEFAULT_GROUP_COUNT = 4  # consecutive groups of attention depths when --groups is not given


def _removed(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros_like(weights[:, 0]), weights[:, 1]], dim=1)


def _renormalised(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros_like(weights[:, 0]), torch.ones_like(weights[:, 1])], dim=1)


def _identity(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> torch.Tensor:
    return inputs[0]


def _spatial_mean(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], gate: torch.Tensor) -> torch.Tensor:
    # Expanded back to the gate's shape, so that the block uses it exactly as it used the gate.
    return gate.mean(dim=(-2, -1), keepdim=True).expand_as(gate)


BRANCH_WEIGHT_HOOKS = {"remove": _removed, "renormalise": _renormalised}


def _switch_off(network: SRNetwork, depth: int, mode: str) -> torch.utils.hooks.RemovableHandle:
    slot = network.slots[depth]
    if mode == GATE_MEAN:
        probe = map_probes(network).get(depth)
        if probe is None:
            raise TypeError(f"the block at depth {depth} declares no attention map: {GATE_MEAN} cannot switch it")
        return probe.register_forward_hook(_spatial_mean)
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
        TypeError: ``mode`` is ``gate-mean`` and a depth's block declares no attention map.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    handles = []
    try:
        for depth in depths:
            handles.append(_switch_off(network, depth, mode))
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


def skip_reasons(trained: TrainedNetwork, mode: str, spatial_maps: set[int]) -> dict[int, str]:
    """Attention depth → why ``mode`` cannot switch it, for the depths it cannot switch.

    Args:
        trained: The network.
        mode: One of ``MODES``; only ``gate-mean`` skips depths.
        spatial_maps: The depths whose declared gate had more than one pixel on the images.
    """
    if mode != GATE_MEAN:
        return {}
    probes = map_probes(trained.network)
    reasons = {}
    for depth in attention_depths(trained):
        block = trained.genotype.blocks[depth]
        if depth not in probes:
            reasons[depth] = f"{block} declares no attention map to average"
        elif depth not in spatial_maps:
            reasons[depth] = f"{block}'s gate is per channel only (N×C×1×1), already spatially constant"
    return reasons


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

    def _setting(self, depth: int, mode: str) -> str:
        # remove and renormalise differ only in a2b slots; elsewhere both make the attention the identity, one
        # setting evaluated once.
        if mode in BRANCH_WEIGHT_HOOKS and not isinstance(self.network.slots[depth], AttentionInAttentionBlock):
            return "identity"
        return mode

    def switched_off(self, depths: tuple[int, ...], mode: str) -> evaluate.EvaluationResult:
        key = frozenset((d, self._setting(d, mode)) for d in depths)
        if key not in self.cache:
            with attention_switched_off(self.network, depths, mode):
                self.cache[key] = self.scores()
        return self.cache[key]


Hook = Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]


def _attention_weight_recorder(values: list[float]) -> Hook:
    def record(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> None:
        values.extend(weights[:, 0].tolist())

    return record


def _spatial_map_recorder(spatial_maps: set[int], depth: int) -> Hook:
    def record(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], gate: torch.Tensor) -> None:
        if gate.shape[-2:].numel() > 1:
            spatial_maps.add(depth)

    return record


def _baseline(evaluator: _Evaluator) -> tuple[evaluate.EvaluationResult, dict[int, np.ndarray], set[int]]:
    """The unablated scores, each a2b slot's ADM attention-branch weight per image (mean over its tiles), and the
    depths whose declared attention map had more than one pixel."""
    slots = evaluator.network.slots
    a2b_slots = {d: slot for d, slot in enumerate(slots) if isinstance(slot, AttentionInAttentionBlock)}
    seen: dict[int, list[float]] = {d: [] for d in a2b_slots}
    per_image: dict[int, list[float]] = {d: [] for d in a2b_slots}
    spatial_maps: set[int] = set()
    hooks = [
        slot.branch_weights.register_forward_hook(_attention_weight_recorder(seen[d])) for d, slot in a2b_slots.items()
    ]
    hooks += [
        probe.register_forward_hook(_spatial_map_recorder(spatial_maps, d))
        for d, probe in map_probes(evaluator.network).items()
    ]
    images = []
    try:
        for pair in evaluator.pairs:  # one at a time, so that the recorded weights belong to this image
            images.append(evaluator.score(pair))
            for depth in a2b_slots:
                per_image[depth].append(float(np.mean(seen[depth])))
                seen[depth].clear()
    finally:
        for hook in hooks:
            hook.remove()
    weights = {d: np.array(v) for d, v in per_image.items()}
    return evaluate.EvaluationResult(images, evaluator.network.scale), weights, spatial_maps


def _effect(
    evaluator: _Evaluator,
    baseline: evaluate.EvaluationResult,
    depths: tuple[int, ...],
    mode: str,
    switched: tuple[int, ...],
) -> AblationEffect:
    ablated = evaluator.switched_off(switched, mode)
    psnr = np.array([a.psnr - b.psnr for a, b in zip(ablated.images, baseline.images, strict=True)])
    ssim = np.array([a.ssim - b.ssim for a, b in zip(ablated.images, baseline.images, strict=True)])
    delta_dataset = dataset_psnr([s.psnr for s in ablated.images]) - dataset_psnr([s.psnr for s in baseline.images])
    return AblationEffect(depths, mode, switched, psnr, ssim, delta_dataset)


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
        modes: Any of ``MODES``; a depth a mode cannot switch is skipped with its reason (``skip_reasons``), and a
            group is switched at the depths it can.
        device: Torch device.
        tile: LR tile size for large images (``nas.sr.evaluate.evaluate``).

    On the CPU it evaluates as many images at a time as torch has threads, each op on one thread (``_Evaluator``).
    """
    on_cpu = torch.device(device).type == "cpu"
    threads = torch.get_num_threads()
    evaluator = _Evaluator(trained, pairs, device, tile, workers=threads if on_cpu else 1)
    torch.set_num_threads(1 if on_cpu else threads)
    depth_effects: list[AblationEffect] = []
    group_effects: list[AblationEffect] = []
    skipped: list[SkippedEffect] = []
    try:
        baseline, weights, spatial_maps = _baseline(evaluator)
        reasons = {mode: skip_reasons(trained, mode, spatial_maps) for mode in modes}
        for depth in attention_depths(trained):
            for mode in modes:
                if depth in reasons[mode]:
                    skipped.append(SkippedEffect("depth", (depth,), mode, reasons[mode][depth]))
                else:
                    depth_effects.append(_effect(evaluator, baseline, (depth,), mode, (depth,)))
        for group in groups:
            for mode in modes:
                switched = tuple(d for d in group if d not in reasons[mode])
                if switched:
                    group_effects.append(_effect(evaluator, baseline, tuple(group), mode, switched))
                else:
                    skipped.append(SkippedEffect("group", tuple(group), mode, "every depth in it is skipped"))
    finally:
        torch.set_num_threads(threads)
    label = f"{trained.genotype} ({trained.source})"
    return Ablation(
        label, trained.genotype.blocks, baseline, tuple(modes), depth_effects, group_effects, skipped, weights
    )
