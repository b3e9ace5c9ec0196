"""The proxy trainer: learns, is deterministic on CPU, and stops with a reason on a NaN loss."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from nas.core import spaces, training
from nas.core.genotypes import Genotype

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane

TINY = Path(__file__).resolve().parents[1] / "search_spaces" / "sr_tiny.yaml"


def run_train(nas_cli, space_file: Path, *args: str) -> dict:
    """``nas train --space SPACE ARGS --json``, which must succeed; its JSON result."""
    result = nas_cli("train", "--space", str(space_file), *args, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_nas_train_learns_and_repeats_exactly_on_cpu(nas_cli, space_writer, small_images, tmp_path) -> None:
    extra = "block_options: {ca: {reduction: 4}}\n"
    space_file = space_writer(tmp_path, "tiny", small_images, ["none", "ca", "a2b", "lia"], iterations=60, extra=extra)
    genotype = "x2.c16.u4:ca-a2b;ca(reduction=4)"
    first = run_train(nas_cli, space_file, "--genotype", genotype, "--device", "cpu")
    # The same training read along the way: its last reading is the plain training's result, to the last bit.
    second = run_train(nas_cli, space_file, "--genotype", genotype, "--device", "cpu", "--budgets", "0,20,40,60")
    assert first["psnr"] >= first["psnr_untrained"] + 0.3
    assert first["psnr"] == second["psnr"] and first["loss_curve"] == second["loss_curve"]
    assert [r["iterations"] for r in second["readings"]] == [0, 20, 40, 60] and len(first["readings"]) == 1
    # A reading at 0 is the network as it starts: the untrained PSNR, measured once.
    assert second["readings"][0]["psnr"] == first["psnr_untrained"] == second["psnr_untrained"]
    assert second["readings"][-1] == {**first["readings"][0], "seconds": second["readings"][-1]["seconds"]}
    assert second["readings"][0]["psnr"] != second["psnr"] and second["psnr_bicubic"] == first["psnr_bicubic"]
    assert set(first) >= {"psnr", "ssim", "psnr_untrained", "train_seconds", "patches_per_second", "final_loss"}
    assert first["initial_weights"] == "module-path"
    assert first["loss_curve"][-1] < first["loss_curve"][0]


def test_a_nan_loss_stops_the_run_with_its_reason() -> None:
    tiny = spaces.load(TINY)
    exploding = replace(tiny.proxy, lr=1e6, iterations=40, budgets=())
    with pytest.raises(training.TrainingFailed, match="loss became nan"):
        training.train(Genotype.create(2, 16, 12, ["none", "pa"]), exploding, tiny.data, seed=0, device="cpu")


def test_another_run_length_keeps_the_space_readings_within_it_and_budgets_set_the_length() -> None:
    from nas.trained.saved_training import overridden_space

    tiny = spaces.load(TINY)  # 1,000 iterations, read at 300 too
    assert tiny.proxy.readings() == (300, 1000)
    assert overridden_space(tiny, {"proxy.iterations": "400"}).proxy.readings() == (300, 400)
    assert overridden_space(tiny, {"proxy.iterations": "30"}).proxy.readings() == (30,)
    assert overridden_space(tiny, {"proxy.budgets": "300,3000"}).proxy.readings() == (300, 3000)
    both = overridden_space(tiny, {"proxy.iterations": "5000", "proxy.budgets": "100,2000"})
    assert both.proxy.readings() == (100, 2000, 5000)
    with pytest.raises(spaces.SpaceError, match=r"--budgets: proxy.budgets\[0\]: got 300; a reading along the run"):
        overridden_space(tiny, {"proxy.iterations": "100", "proxy.budgets": "300"})
