"""Analyses of trained networks: harness checkpoints, attention ablation by depth, attention maps.

The released A2N x2 weights run on small crops of Set5 here; the full Set5 ablation is the documented command in
the README, not a test.
"""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.errors import InputError
from nas.sr import data, evaluate
from nas.sr.data import NamedImage
from nas.trained import ablation, attention_maps, checkpoints

TINY_GENOTYPE = "x2.c16.u4:a2b-none-pa-ca"  # an a2b slot, an empty one, a spatial gate and a channel gate


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, nas_cli, space_writer, small_images) -> tuple[Path, dict]:
    """A network trained by ``nas train --save`` on a tiny space, and the training's JSON result."""
    folder = tmp_path_factory.mktemp("tiny_checkpoint")
    space = space_writer(folder, "tiny", small_images, ["none", "a2b", "pa", "ca"], depth=4)
    path = folder / "net.pt"
    result = nas_cli(
        "train",
        "--space",
        str(space),
        "--genotype",
        TINY_GENOTYPE,
        "--device",
        "cpu",
        "--save",
        str(path),
        "--json",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return path, json.loads(result.stdout)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on these tiny images, synchronising two threads costs more than it saves (much more on a
    busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def released(reference) -> checkpoints.TrainedNetwork:
    return checkpoints.released_a2n(2, reference / "a2n" / "a2n_x2_official.pt")


@pytest.fixture(scope="module")
def crops(reference) -> list[data.ImagePair]:
    """Two 48×40 HR crops of Set5 (LR 24×20), small enough for a three-mode ablation's 58 evaluations in seconds."""
    images = data.folder_images(reference / "set5" / "HR")[:2]
    return data.evaluation_pairs([NamedImage(i.name, i.pixels[100:148, 100:140]) for i in images], 2)


# Harness checkpoints


def test_a_saved_network_round_trips_through_eval_with_identical_psnr(tiny_checkpoint, nas_cli, small_images) -> None:
    path, trained = tiny_checkpoint
    content = torch.load(path, weights_only=True)
    metadata = json.loads(content["metadata"])
    assert metadata["genotype"] == TINY_GENOTYPE and metadata["scale"] == 2 and metadata["input_range"] == 1.0
    assert metadata["protocol"]["border"] == 2 and metadata["psnr"] == trained["psnr"]
    result = nas_cli("eval", "--checkpoint", str(path), "--data", str(small_images), "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mean"]["psnr"] == trained["psnr"]


def _resaved(source: Path, target: Path, **changes) -> Path:
    content = torch.load(source, weights_only=True)
    metadata = json.loads(content["metadata"])
    metadata.update(changes)
    torch.save({"state_dict": content["state_dict"], "metadata": json.dumps(metadata)}, target)
    return target


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"genotype": "x2.c16.u4:a2b-none-pa-pa"}, "do not belong to the genotype x2.c16.u4:a2b-none-pa*2"),
        ({"genotype": "x2.c16.u4:a2b-transformer"}, "metadata genotype: unknown block 'transformer'"),
        ({"scale": 3}, "metadata scale 3 differs from its genotype's (2)"),
        ({"input_range": "255"}, "metadata 'input_range' is '255'"),
        ({"format": "other"}, "metadata format 'other'"),
    ],
    ids=["wrong-genotype", "unknown-block", "scale", "input-range", "format"],
)
def test_a_mismatched_checkpoint_names_its_problem(tiny_checkpoint, tmp_path, changes, message) -> None:
    bad = _resaved(tiny_checkpoint[0], tmp_path / "bad.pt", **changes)
    with pytest.raises(InputError, match=re.escape(message)):
        checkpoints.load(bad)


def test_plain_weights_and_bad_metadata_are_refused(tmp_path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save({"conv_first.weight": torch.zeros(1)}, plain)
    with pytest.raises(InputError, match="no harness metadata"):
        checkpoints.load(plain)
    broken = tmp_path / "broken.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "metadata": "{not json"}, broken)
    with pytest.raises(InputError, match="metadata is not valid JSON"):
        checkpoints.load(broken)


@pytest.mark.parametrize("damage", ["truncate", "wrong-genotype"])
def test_a_corrupt_or_mismatched_checkpoint_exits_2_with_one_line(
    tiny_checkpoint, in_process, small_images, tmp_path, damage
) -> None:
    bad = tmp_path / "bad.pt"
    if damage == "truncate":
        bad.write_bytes(tiny_checkpoint[0].read_bytes()[:200])
    else:
        _resaved(tiny_checkpoint[0], bad, genotype="x2.c16.u4:a2b*4")
    result = in_process(["ablate", "--checkpoint", str(bad), "--data", str(small_images)])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert ("cannot read checkpoint" if damage == "truncate" else "does not match the network") in result.stderr


# The attention switch


def _forced_forward(block: torch.nn.Module, x: torch.Tensor, attention_weight: str) -> torch.Tensor:
    """The A2N block written out with its ADM attention weight forced to 0 (the other kept, or set to 1)."""
    features = F.leaky_relu(block.conv_first(x), 0.2)
    weights = torch.softmax(block.ADM(features.mean(dim=(2, 3))) / block.temperature, dim=1)
    plain = weights[:, 1, None, None, None] if attention_weight == "kept" else 1.0
    return block.conv_last(F.leaky_relu(block.non_attention(features) * plain, 0.2)) + x


@pytest.mark.parametrize(("mode", "other_weight"), [("remove", "kept"), ("renormalise", "one")])
def test_switching_off_every_depth_equals_forcing_the_adm_attention_weight_to_0(
    released, crops, mode, other_weight
) -> None:
    network = released.network
    x = torch.from_numpy(crops[0].lr.transpose(2, 0, 1).copy()).float().div(255)[None]
    before = {k: v.clone() for k, v in network.state_dict().items()}
    with torch.no_grad():
        baseline = network(x)
        with ablation.attention_switched_off(network, range(16), mode):
            switched = network(x)
        after = network(x)
        for slot in network.slots:
            slot.forward = types.MethodType(lambda block, inputs: _forced_forward(block, inputs, other_weight), slot)
        try:
            forced = network(x)
        finally:
            for slot in network.slots:
                del slot.forward
    torch.testing.assert_close(switched, forced, rtol=0, atol=0)
    assert (switched - baseline).abs().max() > 1e-3
    torch.testing.assert_close(after, baseline, rtol=0, atol=0)  # the switch is undone on exit
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())  # no weight was touched


@pytest.mark.slow
def test_ablation_of_released_a2n_on_two_crops(released, crops) -> None:
    groups = ablation.resolve_groups(released, "0-7,8-15")
    result = ablation.ablate(released, crops, groups)
    baseline = evaluate.evaluate(released.network, crops, 2)
    assert [s.psnr for s in result.baseline.images] == [s.psnr for s in baseline.images]
    record = result.to_json()
    assert record["modes"] == list(ablation.MODES) and len(record["depths"]) == 48 and not record["skipped"]
    assert {(d["depth"], d["mode"]) for d in record["depths"]} == {(d, m) for d in range(16) for m in ablation.MODES}
    assert [g["group"] for g in record["groups"]] == [g for g in ("0-7", "8-15", "0-15") for _ in ablation.MODES]
    assert [f["effects"] for f in record["interval_families"]] == [19, 19, 19]  # 16 depths and 3 groups a mode
    # Every depth removed: the same as evaluating the network with every ADM attention weight forced to 0.
    for slot in released.network.slots:
        slot.forward = types.MethodType(lambda block, inputs: _forced_forward(block, inputs, "kept"), slot)
    try:
        forced = evaluate.evaluate(released.network, crops, 2)
    finally:
        for slot in released.network.slots:
            del slot.forward
    everything = next(g for g in record["groups"] if g["group"] == "0-15" and g["mode"] == "remove")
    expected = [f.psnr - b.psnr for f, b in zip(forced.images, baseline.images, strict=True)]
    assert [image["delta_psnr"] for image in everything["images"]] == pytest.approx(expected, abs=1e-12)
    weight = record["depths"][0]["attention_weight"]
    assert 0 < weight["min"] <= weight["mean"] <= weight["max"] < 1 and len(weight["images"]) == 2


@pytest.mark.slow
def test_ablate_runs_on_a_harness_checkpoint(tiny_checkpoint, nas_cli, small_images, tmp_path) -> None:
    result = nas_cli(
        "ablate",
        "--checkpoint",
        str(tiny_checkpoint[0]),
        "--data",
        str(small_images),
        "--json",
        "--out",
        str(tmp_path),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["baseline"]["mean"]["psnr"] == tiny_checkpoint[1]["psnr"]
    by_depth = {(d["depth"], d["mode"]): d for d in record["depths"]}
    assert sorted({d for d, _ in by_depth}) == [0, 2, 3]  # depth 1 holds no attention
    # Outside a2b both branch modes make the attention the identity: the same numbers.
    assert by_depth[2, "remove"]["delta_psnr"] == by_depth[2, "renormalise"]["delta_psnr"] != 0
    assert (3, "gate-mean") not in by_depth and (2, "gate-mean") in by_depth  # ca's gate has no spatial extent
    assert by_depth[0, "remove"]["attention_weight"]["mean"] > 0 and by_depth[3, "remove"]["attention_weight"] is None
    assert (tmp_path / "ablation.png").stat().st_size > 10_000 and (tmp_path / "ablation.json").is_file()


@pytest.mark.parametrize(
    ("text", "expected"), [("0-3,5", [(0, 1, 2, 3), (5,)]), ("15", [(15,)]), ("2-2, 7-9", [(2,), (7, 8, 9)])]
)
def test_groups_parse(text, expected) -> None:
    assert ablation.parse_groups(text, 16) == expected


@pytest.mark.parametrize("text", ["3-1", "0-16", "a", "1-b", "-1"])
def test_bad_groups_name_the_allowed_depths(text) -> None:
    with pytest.raises(InputError, match="depths 0-15"):
        ablation.parse_groups(text, 16)


def test_default_groups_are_four_consecutive_runs() -> None:
    assert ablation.default_groups(range(16)) == [tuple(range(i, i + 4)) for i in (0, 4, 8, 12)]
    assert ablation.default_groups([0, 2, 3]) == [(0,), (2,), (3,)]


# Attention maps


def test_high_pass_is_the_absolute_5_point_laplacian_of_luminance_with_mirrored_borders() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    y = 16 + image.astype(np.float64) @ (np.array([65.481, 128.553, 24.966]) / 255)
    padded = np.pad(y, 1, mode="symmetric")  # d c b a | a b c d
    stencil = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:] - 4 * y
    np.testing.assert_allclose(attention_maps.high_pass(image), np.abs(stencil), rtol=1e-12)
    assert attention_maps.high_pass(image, (3, 2)).shape == (3, 2)


@pytest.mark.parametrize("rho", [-0.6, 0.0, 0.35, 0.9])
def test_correlation_of_a_channel_averaged_map_recovers_a_known_r(rho) -> None:
    rng = np.random.default_rng(1)
    high = rng.gamma(2.0, size=(30, 20))
    z = (high - high.mean()) / high.std()
    noise = rng.normal(size=z.shape)
    noise -= noise.mean() + (noise * z).mean() * z  # orthogonal to z: the mix's r is exactly rho
    noise /= noise.std()
    spatial = 0.5 + 0.1 * (rho * z + np.sqrt(1 - rho**2) * noise)
    channels = np.stack([spatial + offset for offset in (-0.05, 0.0, 0.05)])  # per-channel offsets average out
    r = attention_maps.correlation(channels, high)
    assert r == pytest.approx(rho, abs=1e-9)
    assert r == pytest.approx(np.corrcoef(spatial.ravel(), high.ravel())[0, 1], abs=1e-12)
    assert np.isnan(attention_maps.correlation(np.full((2, 30, 20), 0.5), high))


def test_attention_maps_of_released_a2n(released, crops) -> None:
    maps = attention_maps.collect(released, crops)
    assert [layer.depth for layer in maps.layers] == list(range(16))
    for layer in maps.layers:
        assert layer.spatial and len(layer.correlations) == 2
        assert all(-1 <= r <= 1 for r in layer.correlations) and 0 < min(layer.mean_gate) < 1
    assert [layer.depth for layer in maps.grid.layers] == [0, 5, 10, 15]
    shown = maps.grid.layers[0]
    assert shown.mean_map.shape == crops[0].lr.shape[:2]
    assert shown.enhanced.mean() >= shown.mean_map.mean() >= shown.suppressed.mean()
    assert shown.correlation == pytest.approx(maps.layers[0].correlations[0])


@pytest.mark.slow
def test_nas_attention_maps_writes_the_table_and_the_grid(tiny_checkpoint, nas_cli, small_images, tmp_path) -> None:
    result = nas_cli(
        "attention-maps",
        "--checkpoint",
        str(tiny_checkpoint[0]),
        "--data",
        str(small_images),
        "--images",
        "2",
        "--out",
        str(tmp_path),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "mean r" in result.stdout and "channel" in result.stdout
    record = json.loads((tmp_path / "attention_maps.json").read_text())
    kinds = {layer["depth"]: (layer["block"], layer["kind"]) for layer in record["layers"]}
    assert kinds == {0: ("a2b", "spatial"), 2: ("pa", "spatial"), 3: ("ca", "channel")}
    assert len(record["layers"][2]["images"][0]["channel_weights"]) == 16 and len(record["images"]) == 2
    assert (tmp_path / "attention_maps.png").stat().st_size > 10_000
