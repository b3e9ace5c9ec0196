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

Each depth and each group of depths is reported per mode as ablated minus baseline per image (ΔPSNR, ΔSSIM:
negative means the network needs what the mode removed), with:

- the mean over images, which is also the change of the mean PSNR over images, and a Student-t interval for it
  over images (``scipy.stats.t``, n − 1 degrees of freedom, standard error from the per-image deltas, paired by
  image), Bonferroni-adjusted so that the intervals of one mode hold together at ``FAMILY_CONFIDENCE`` over every
  depth and group effect reported for that mode (each metric its own family; modes are not adjusted across). It
  assumes the per-image deltas are roughly normal; with 5 images a skewed spread makes it optimistic. Fewer than
  two images, or deltas identical on every image, give no interval and say why;
- how many images moved each way;
- the change of the dataset PSNR: the PSNR of the mean per-image MSE (each image weighted equally), which weighs
  the images the model does worst on most, where the mean PSNR weighs every image's dB alike.

The intervals say how stable the mean is over these images, nothing about other images, networks or retraining.
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
from nas.json_values import jsonable
from nas.sr import evaluate, protocol
from nas.sr.data import ImagePair
from nas.trained.attention_maps import map_probes
from nas.trained.checkpoints import TrainedNetwork

GATE_MEAN = "gate-mean"
MODES = ("remove", "renormalise", GATE_MEAN)
MODE_MEANINGS = {
    "remove": "branch removal: a2b's attention branch (convolutions and gate) weighted 0, the other branch keeps "
    "its ADM weight; other blocks' attention module made the identity",
    "renormalise": "branch removal: a2b's attention branch weighted 0 and the other branch 1; other blocks' "
    "attention module made the identity",
    GATE_MEAN: "spatial selectivity removed: each declared attention gate replaced by its spatial mean per image "
    "and channel; the branch, its convolutions and the mean gate level kept",
}
FAMILY_CONFIDENCE = 0.95  # simultaneous over the effects of one mode
DEFAULT_GROUP_COUNT = 4  # consecutive groups of attention depths when --groups is not given
INTERVAL_METHOD = (
    "Student-t interval of the mean over images (scipy.stats.t, n − 1 degrees of freedom, paired by image), "
    f"Bonferroni-adjusted to {FAMILY_CONFIDENCE:.0%} simultaneous over the depth and group effects of one mode: "
    f"each interval at 1 − {1 - FAMILY_CONFIDENCE:.2f}/m for a mode with m effects, ΔPSNR and ΔSSIM each their own "
    "family, no adjustment across modes"
)
DATASET_PSNR = "PSNR of the mean per-image MSE over images (each image weighted equally; Y, border as per image)"


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


@dataclass(frozen=True)
class MeanInterval:
    """The mean of per-image deltas and its interval at ``level``; no ends where none exists (``reason``)."""

    mean: float
    low: float | None
    high: float | None
    level: float
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "level": self.level, "reason": self.reason}

    def to_text(self, digits: int) -> str:
        if self.low is None or self.high is None:
            return f"{self.mean:+.{digits}f} [no interval]"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def per_interval_level(family_size: int) -> float:
    """The level of each of ``family_size`` Bonferroni intervals that hold together at ``FAMILY_CONFIDENCE``."""
    return 1 - (1 - FAMILY_CONFIDENCE) / family_size


def simultaneous_interval(deltas: np.ndarray, family_size: int) -> MeanInterval:
    """The Student-t interval of the mean of per-image ``deltas``, one of ``family_size`` Bonferroni intervals.

    Fewer than two images leave no spread to estimate, and deltas identical on every image (a switch that changes
    every image alike, usually not at all) a zero standard error: neither gets an interval, each says why.
    """
    mean = float(np.mean(deltas))
    level = per_interval_level(family_size)
    if len(deltas) < 2:
        return MeanInterval(mean, None, None, level, "fewer than two images: no spread over images to estimate")
    if np.ptp(deltas) == 0:
        return MeanInterval(mean, None, None, level, "the same delta on every image: zero spread, no t-interval")
    low, high = stats.t.interval(level, len(deltas) - 1, loc=mean, scale=stats.sem(deltas))
    return MeanInterval(mean, float(low), float(high), level)


def directions(deltas: np.ndarray) -> dict[str, int]:
    """How many images went down, up, or stayed exactly the same."""
    return {
        "lower": int(np.sum(deltas < 0)),
        "higher": int(np.sum(deltas > 0)),
        "unchanged": int(np.sum(deltas == 0)),
    }


def directions_text(deltas: np.ndarray) -> str:
    """``5/5 lower`` when every image moved one way, else e.g. ``3 lower, 1 higher, 1 same``."""
    moved = directions(deltas)
    for way in ("lower", "higher"):
        if moved[way] == len(deltas):
            return f"{moved[way]}/{len(deltas)} {way}"
    counts = [f"{moved['lower']} lower", f"{moved['higher']} higher"]
    return ", ".join(counts + ([f"{moved['unchanged']} same"] if moved["unchanged"] else []))


def dataset_psnr(psnrs: Sequence[float]) -> float:
    """The PSNR of the mean per-image MSE (``DATASET_PSNR``), from the per-image PSNRs.

    An image's MSE is peak² · 10^(−PSNR/10), so the peak cancels: −10 · log10(mean over images of 10^(−PSNR/10)).
    """
    return float(-10.0 * np.log10(np.mean(np.power(10.0, -np.asarray(psnrs, dtype=np.float64) / 10.0))))


@dataclass(frozen=True)
class AblationEffect:
    """Switching off the attention of ``depths`` in ``mode``: ablated minus baseline, per image.

    ``switched`` are the depths the mode acted on: ``depths`` less those it skips (``gate-mean`` in a group that
    holds a block without a spatial map).
    """

    depths: tuple[int, ...]
    mode: str
    switched: tuple[int, ...]
    delta_psnr: np.ndarray
    delta_ssim: np.ndarray
    delta_dataset_psnr: float

    @property
    def label(self) -> str:
        return depths_label(self.depths)

    def to_json(self, names: Sequence[str], family_size: int) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "switched": list(self.switched),
            "delta_psnr": float(self.delta_psnr.mean()),
            "interval": simultaneous_interval(self.delta_psnr, family_size).to_json(),
            "images_moved": directions(self.delta_psnr),
            "delta_dataset_psnr": self.delta_dataset_psnr,
            "delta_ssim": float(self.delta_ssim.mean()),
            "interval_ssim": simultaneous_interval(self.delta_ssim, family_size).to_json(),
            "images": [
                {"name": name, "delta_psnr": float(p), "delta_ssim": float(s)}
                for name, p, s in zip(names, self.delta_psnr, self.delta_ssim, strict=True)
            ],
        }


@dataclass(frozen=True)
class SkippedEffect:
    """A depth or group (``kind``) that ``mode`` cannot switch, and why."""

    kind: str
    depths: tuple[int, ...]
    mode: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "depths": list(self.depths), "mode": self.mode, "reason": self.reason}

    def to_text(self) -> str:
        return f"skipped {self.kind} {depths_label(self.depths)}: {self.reason}"


def depths_label(depths: tuple[int, ...]) -> str:
    """``7`` for one depth, ``0-3`` for a run of depths, ``1+5+9`` otherwise."""
    first, last = depths[0], depths[-1]
    if len(depths) == 1:
        return str(first)
    if depths == tuple(range(first, last + 1)):
        return f"{first}-{last}"
    return "+".join(map(str, depths))


@dataclass(frozen=True)
class Ablation:
    """The baseline scores of a network and the effect of switching its attention off, per depth and group."""

    network: str  # genotype and source, for labels
    blocks: tuple[str, ...]  # the block at each depth
    baseline: evaluate.EvaluationResult
    modes: tuple[str, ...]
    depths: list[AblationEffect]  # one per attention depth and mode that switches it
    groups: list[AblationEffect]  # one per group and mode; the last group holds every attention depth
    skipped: list[SkippedEffect]  # the depths and groups a mode cannot switch
    attention_weights: dict[int, np.ndarray]  # a2b depth → the ADM's attention-branch weight on each image

    @property
    def names(self) -> list[str]:
        return [score.name for score in self.baseline.images]

    @property
    def baseline_dataset_psnr(self) -> float:
        return dataset_psnr([score.psnr for score in self.baseline.images])

    def family_size(self, mode: str) -> int:
        """The number of depth and group effects reported for ``mode``: its Bonferroni family."""
        return sum(effect.mode == mode for effect in self.depths + self.groups)

    def interval(self, effect: AblationEffect) -> MeanInterval:
        """The ΔPSNR interval of ``effect`` within its mode's family."""
        return simultaneous_interval(effect.delta_psnr, self.family_size(effect.mode))

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
        return jsonable(
            {
                "network": self.network,
                "baseline": self.baseline.to_json(),
                "dataset_psnr": {"baseline": self.baseline_dataset_psnr, "definition": DATASET_PSNR},
                "modes": list(self.modes),
                "mode_meanings": {mode: MODE_MEANINGS[mode] for mode in self.modes},
                "depths": [
                    {
                        "depth": effect.depths[0],
                        "block": self.blocks[effect.depths[0]],
                        **effect.to_json(self.names, self.family_size(effect.mode)),
                        "attention_weight": self.weight_summary(effect.depths[0]),
                    }
                    for effect in self.depths
                ],
                "groups": [
                    {
                        "group": effect.label,
                        "depths": list(effect.depths),
                        **effect.to_json(self.names, self.family_size(effect.mode)),
                    }
                    for effect in self.groups
                ],
                "skipped": [skip.to_json() for skip in self.skipped],
                "interval_method": INTERVAL_METHOD,
                "interval_families": [
                    {
                        "mode": mode,
                        "effects": self.family_size(mode),
                        "per_interval_level": per_interval_level(self.family_size(mode))
                        if self.family_size(mode)
                        else None,
                        "family_level": FAMILY_CONFIDENCE,
                    }
                    for mode in self.modes
                ],
                "protocol": protocol.describe(self.baseline.scale),
            }
        )

    def to_text(self) -> str:
        """The ablation as text: per mode what it removes, its interval family, then one row per depth and group."""
        baseline = self.baseline
        lines = [
            f"{self.network}: baseline mean {baseline.mean_psnr:.3f} dB / {baseline.mean_ssim:.4f} over "
            f"{len(baseline.images)} images (Y, border {baseline.scale}); dataset PSNR {self.baseline_dataset_psnr:.3f}"
            " dB",
            "Δ = attention switched off − baseline. ΔPSNR, ΔSSIM: mean over images (= change of the mean PSNR) "
            f"[interval]; images: how many moved each way; Δdataset: change of the {DATASET_PSNR}",
            f"intervals: {INTERVAL_METHOD}",
            "ADM w_att: the attention branch's ADM weight, mean ± standard deviation over images (a2b only)",
        ]
        for mode in self.modes:
            lines += ["", *self._mode_text(mode)]
        return "\n".join(lines)

    def _mode_text(self, mode: str) -> list[str]:
        size = self.family_size(mode)
        family = (
            f"{size} effects, each interval at {per_interval_level(size):.2%}, {FAMILY_CONFIDENCE:.0%} together"
            if size
            else "no effect to report"
        )
        lines = [
            f"{mode}: {MODE_MEANINGS[mode]}",
            f"family: {family}",
            f"{'depth':>11} {'block':<8} {'ADM w_att':>14}  {'ΔPSNR dB [interval]':<26} {'images':<25} "
            f"{'Δdataset':>8}  ΔSSIM [interval]",
        ]
        rows = [(e, False) for e in self.depths if e.mode == mode] + [(e, True) for e in self.groups if e.mode == mode]
        missing = []
        for effect, is_group in rows:
            psnr = self.interval(effect)
            ssim = simultaneous_interval(effect.delta_ssim, size)
            depth = effect.depths[0]
            weight = None if is_group else self.weight_summary(depth)
            adm = f"{weight['mean']:.3f} ± {weight['std']:.3f}" if weight else "-"
            head = (
                f"{'group ' + effect.label:>11} {'':<8} {'':>14}"
                if is_group
                else f"{depth:>11} {self.blocks[depth]:<8} {adm:>14}"
            )
            lines.append(
                f"{head}  {psnr.to_text(3):<26} {directions_text(effect.delta_psnr):<25} "
                f"{effect.delta_dataset_psnr:+8.3f}  {ssim.to_text(4)}"
            )
            missing += [
                f"{effect.label} {metric}: {i.reason}" for metric, i in (("ΔPSNR", psnr), ("ΔSSIM", ssim)) if i.reason
            ]
        lines += [f"no interval for {line}" for line in missing]
        lines += [skip.to_text() for skip in self.skipped if skip.mode == mode]
        return lines


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
