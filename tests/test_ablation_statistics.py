"""The numbers `nas ablate` reports per effect: simultaneous t-intervals over images, the images that moved each
way, the dataset-level PSNR change, and JSON without NaN; and the gate-mean switch on a small network."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nas.core import genotypes, networks
from nas.sr import data, evaluate, metrics
from nas.sr.data import NamedImage
from nas.trained import ablation, ablation_statistics
from nas.trained.attention_maps import map_probes
from nas.trained.checkpoints import TrainedNetwork

# An a2b slot and a pa slot (spatial gates), a conv capacity control (no gate) and ca (a per-channel gate).
MIXED_GENOTYPE = "x2.c16.u4:a2b-conv-pa-ca"
T_975_DF4 = 2.776445  # Student-t quantiles with 4 degrees of freedom, from printed tables
T_9975_DF4 = 5.597568


# Intervals


@pytest.mark.parametrize(("family_size", "quantile"), [(1, T_975_DF4), (10, T_9975_DF4)])
def test_the_interval_is_the_t_interval_at_the_bonferroni_level(family_size, quantile) -> None:
    deltas = np.array([-0.30, -0.10, -0.25, -0.05, -0.20])
    standard_error = np.sqrt(np.sum((deltas + 0.18) ** 2) / 4) / np.sqrt(5)  # mean −0.18, 4 degrees of freedom
    interval = ablation_statistics.simultaneous_interval(deltas, family_size)
    assert interval.mean == pytest.approx(-0.18, abs=1e-12)
    assert interval.low == pytest.approx(-0.18 - quantile * standard_error, abs=1e-6)
    assert interval.high == pytest.approx(-0.18 + quantile * standard_error, abs=1e-6)
    assert interval.level == pytest.approx(1 - 0.05 / family_size, abs=1e-12) and interval.reason is None


@pytest.mark.slow
def test_a_family_of_intervals_covers_every_known_mean_at_the_family_level() -> None:
    # 800 families of 8 effects, each the mean of 5 normal per-image deltas with its own mean and spread.
    rng = np.random.default_rng(11)
    families, size, images = 800, 8, 5
    true_means = rng.normal(0.0, 1.0, size=(families, size))
    spreads = rng.uniform(0.05, 2.0, size=(families, size))
    deltas = true_means[..., None] + spreads[..., None] * rng.normal(size=(families, size, images))
    covered = np.zeros((families, size), dtype=bool)
    covered_alone = np.zeros((families, size), dtype=bool)
    for f in range(families):
        for e in range(size):
            adjusted = ablation_statistics.simultaneous_interval(deltas[f, e], size)
            alone = ablation_statistics.simultaneous_interval(deltas[f, e], 1)
            covered[f, e] = adjusted.low <= true_means[f, e] <= adjusted.high
            covered_alone[f, e] = alone.low <= true_means[f, e] <= alone.high
    # Independent effects: the family holds with probability (1 − 0.05/8)^8 = 0.951.
    assert 0.925 <= covered.all(axis=1).mean() <= 0.975
    # Unadjusted, each interval holds 95% of the time, but a family of 8 only 0.95^8 = 0.66 of the time.
    assert 0.94 <= covered_alone.mean() <= 0.96
    assert covered_alone.all(axis=1).mean() < 0.75


def test_one_image_or_identical_deltas_give_no_interval_and_say_why() -> None:
    single = ablation_statistics.simultaneous_interval(np.array([-0.4]), 3)
    assert (single.mean, single.low, single.high) == (-0.4, None, None) and "fewer than two images" in single.reason
    same = ablation_statistics.simultaneous_interval(np.full(5, 0.25), 3)
    assert (same.mean, same.low, same.high) == (0.25, None, None) and "zero spread" in same.reason
    assert same.to_text(3) == "+0.250 [no interval]"


# Counts and the dataset-level PSNR


def test_images_that_moved_each_way_are_counted() -> None:
    deltas = np.array([-0.2, 0.0, 0.1, -0.3, -1e-9])
    assert ablation_statistics.directions(deltas) == {"lower": 3, "higher": 1, "unchanged": 1}
    assert ablation_statistics.directions_text(deltas) == "3 lower, 1 higher, 1 same"
    assert ablation_statistics.directions_text(np.array([-0.1, -0.2, -0.3, -0.4, -0.5])) == "5/5 lower"
    assert ablation_statistics.directions_text(np.array([0.1, 0.2])) == "2/2 higher"


def test_dataset_psnr_is_the_psnr_of_the_mean_mse() -> None:
    # 30 and 40 dB: MSEs 255²·10⁻³ and 255²·10⁻⁴, mean 255²·5.5·10⁻⁴, so 10·log10(1/5.5e-4) = 32.5964 dB.
    assert ablation_statistics.dataset_psnr([30.0, 40.0]) == pytest.approx(32.596373, abs=1e-6)
    assert ablation_statistics.dataset_psnr([35.0, 35.0, 35.0]) == pytest.approx(35.0, abs=1e-12)


# The gate-mean switch and the whole ablation on a small network


@pytest.fixture(scope="module")
def mixed() -> TrainedNetwork:
    torch.manual_seed(3)
    genotype = genotypes.Genotype.parse(MIXED_GENOTYPE)
    return TrainedNetwork(networks.build(genotype).eval(), genotype, "random weights")


@pytest.fixture(scope="module")
def three_crops() -> list[data.ImagePair]:
    images = data.builtin_images("train")[:3]
    return data.evaluation_pairs([NamedImage(i.name, i.pixels[:32, :40]) for i in images], 2)


def _recording(store: dict[int, torch.Tensor], network: torch.nn.Module) -> list:
    """Hooks that keep the gate leaving each declared map probe, as the hooks registered before them left it."""

    def hook(depth: int):
        return lambda _module, _inputs, gate: store.__setitem__(depth, gate.clone())

    return [probe.register_forward_hook(hook(depth)) for depth, probe in map_probes(network).items()]


def test_gate_mean_makes_each_gate_its_spatial_mean_per_image_and_channel(mixed, three_crops) -> None:
    network = mixed.network
    x = torch.stack([torch.from_numpy(p.lr.transpose(2, 0, 1).copy()).float().div(255) for p in three_crops[:2]])
    entering: dict[int, torch.Tensor] = {}  # registered before the switch: the gates the blocks computed
    leaving: dict[int, torch.Tensor] = {}  # registered after it: the gates the blocks used
    with torch.no_grad():
        baseline = network(x)
        first = _recording(entering, network)
        with ablation.attention_switched_off(network, [0, 2], ablation.GATE_MEAN):
            last = _recording(leaving, network)
            switched = network(x)
            for hook in first + last:
                hook.remove()
        again = network(x)
    for depth in (0, 2):  # a2b's N×C×H×W mask and pa's gate
        gate = leaving[depth]
        assert gate.shape == entering[depth].shape and gate.shape[-2:] == x.shape[-2:]
        assert torch.equal(gate.amax(dim=(-2, -1)), gate.amin(dim=(-2, -1)))  # constant over space
        torch.testing.assert_close(gate[..., 0, 0], entering[depth].mean(dim=(-2, -1)), rtol=0, atol=0)
        assert entering[depth].std(dim=(-2, -1)).min() > 1e-4  # the gate the block computed varies over space
    torch.testing.assert_close(leaving[3], entering[3], rtol=0, atol=0)  # the ca gate at depth 3 was not switched
    assert not torch.equal(switched, baseline)  # random weights: the slots move the output only slightly
    torch.testing.assert_close(again, baseline, rtol=0, atol=0)  # the switch's hooks are gone on exit


def test_gate_mean_refuses_a_block_without_an_attention_map(mixed) -> None:
    with pytest.raises(TypeError, match="depth 1 declares no attention map"):
        with ablation.attention_switched_off(mixed.network, [1], ablation.GATE_MEAN):
            pass


def _mse(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    crop = (slice(border, -border), slice(border, -border))
    return float(np.mean((metrics.rgb_to_y(sr)[crop] - metrics.rgb_to_y(hr)[crop]) ** 2))


def test_ablation_of_a_mixed_network(mixed, three_crops) -> None:
    groups = ablation.resolve_groups(mixed, "0-1,2-3")
    result = ablation.ablate(mixed, three_crops, groups)
    record = json.loads(json.dumps(result.to_json(), allow_nan=False))
    # gate-mean skips conv (no map) and ca (a per-channel gate); the others switch every attention depth.
    by_mode = {mode: [d["depth"] for d in record["depths"] if d["mode"] == mode] for mode in ablation.MODES}
    assert by_mode == {"remove": [0, 1, 2, 3], "renormalise": [0, 1, 2, 3], "gate-mean": [0, 2]}
    skipped = {(s["kind"], tuple(s["depths"])): s["reason"] for s in record["skipped"]}
    assert skipped.keys() == {("depth", (1,)), ("depth", (3,))}
    assert "declares no attention map" in skipped["depth", (1,)] and "per channel only" in skipped["depth", (3,)]
    groups_by_mode = {(g["group"], g["mode"]): g for g in record["groups"]}
    assert groups_by_mode["0-3", "gate-mean"]["switched"] == [0, 2] and groups_by_mode["0-1", "remove"]["switched"] == [
        0,
        1,
    ]
    # Families: remove has 4 depths + 3 groups; gate-mean 2 depths + 3 groups (0-1 and 2-3 each keep one depth).
    families = {f["mode"]: (f["effects"], f["per_interval_level"]) for f in record["interval_families"]}
    assert families["remove"] == (7, pytest.approx(1 - 0.05 / 7)) and families["gate-mean"] == (5, pytest.approx(0.99))
    # The mean ΔPSNR is the change of the mean PSNR; the dataset delta is the change of the PSNR of the mean MSE.
    effect = groups_by_mode["0-3", "gate-mean"]
    with ablation.attention_switched_off(mixed.network, [0, 2], ablation.GATE_MEAN):
        ablated = [evaluate.to_uint8_image(evaluate.super_resolve(mixed.network, p.lr, 2)) for p in three_crops]
    plain = [evaluate.to_uint8_image(evaluate.super_resolve(mixed.network, p.lr, 2)) for p in three_crops]
    mse_ablated = np.mean([_mse(sr, p.hr, 2) for sr, p in zip(ablated, three_crops, strict=True)])
    mse_plain = np.mean([_mse(sr, p.hr, 2) for sr, p in zip(plain, three_crops, strict=True)])
    assert effect["delta_dataset_psnr"] == pytest.approx(10 * np.log10(mse_plain / mse_ablated), abs=1e-9)
    assert record["dataset_psnr"]["baseline"] == pytest.approx(10 * np.log10(255**2 / mse_plain), abs=1e-9)
    per_image = [image["delta_psnr"] for image in effect["images"]]
    assert effect["delta_psnr"] == pytest.approx(np.mean(per_image), abs=1e-12)
    ablated_mean = np.mean([metrics.psnr(sr, p.hr, 2) for sr, p in zip(ablated, three_crops, strict=True)])
    assert effect["delta_psnr"] == pytest.approx(ablated_mean - result.baseline.mean_psnr, abs=1e-9)
    moved = effect["images_moved"]
    assert moved == ablation_statistics.directions(np.array(per_image)) and sum(moved.values()) == 3
    interval = ablation_statistics.simultaneous_interval(np.array(per_image), 5)
    assert effect["interval"] == {"low": interval.low, "high": interval.high, "level": interval.level, "reason": None}
    text = result.to_text()
    assert "gate-mean: spatial selectivity removed" in text and "skipped depth 3: ca's gate is per channel" in text
    assert "family: 7 effects, each interval at 99.29%" in text


def test_one_image_gives_json_without_nan(mixed, three_crops) -> None:
    result = ablation.ablate(mixed, three_crops[:1], [(0, 1, 2, 3)], modes=("remove",))
    record = json.loads(json.dumps(result.to_json(), allow_nan=False))
    depth = record["depths"][0]
    assert depth["interval"]["low"] is None and "fewer than two" in depth["interval"]["reason"]
    assert depth["attention_weight"]["std"] == 0.0 and record["modes"] == ["remove"]
