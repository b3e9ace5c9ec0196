"""``nas eval`` reproduces A2N's published Set5 ×2 result and fails cleanly on bad checkpoints."""

from __future__ import annotations

import json

import pytest
import torch


def run_eval(nas_cli, *args: str):
    """``nas eval --arch a2n ARGS``; inference on Set5 needs more than the default time limit."""
    return nas_cli("eval", "--arch", "a2n", *args, timeout=600)


@pytest.mark.slow
def test_released_a2n_scores_the_paper_number_on_set5_x2(nas_cli, reference) -> None:
    weights = reference / "a2n" / "a2n_x2_official.pt"
    result = run_eval(
        nas_cli, "--scale", "2", "--weights", str(weights), "--data", str(reference / "set5" / "HR"), "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scale"] == 2 and len(report["images"]) == 5
    assert report["mean"]["psnr"] == pytest.approx(38.06, abs=0.01)
    assert report["mean"]["ssim"] == pytest.approx(0.9608, abs=0.0005)
    assert report["protocol"]["border"] == 2


@pytest.mark.parametrize(
    ("make_checkpoint", "message"),
    [
        (lambda path: path.write_bytes(b"PK\x03\x04 truncated"), "cannot read checkpoint"),
        (lambda path: torch.save({"conv_first.weight": torch.zeros(1)}, path), "missing keys: HRconv1.bias"),
        (lambda path: torch.save([1, 2, 3], path), "does not hold a state dict"),
    ],
    ids=["corrupt", "wrong-keys", "not-a-state-dict"],
)
def test_bad_checkpoints_exit_with_status_2(in_process, reference, tmp_path, make_checkpoint, message) -> None:
    checkpoint = tmp_path / "bad.pt"
    make_checkpoint(checkpoint)
    data = str(reference / "set5" / "HR")
    result = in_process(["eval", "--arch", "a2n", "--scale", "2", "--weights", str(checkpoint), "--data", data])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_scale_mismatch_names_the_missing_upsampler_keys(in_process, reference) -> None:
    weights = reference / "a2n" / "a2n_x2_official.pt"
    data = str(reference / "set5" / "HR")
    result = in_process(["eval", "--arch", "a2n", "--scale", "4", "--weights", str(weights), "--data", data])
    assert result.returncode == 2
    assert "upconv2.weight" in result.stderr and "Traceback" not in result.stderr


def test_missing_image_folder_exits_with_status_2(nas_cli, reference, tmp_path) -> None:
    weights = reference / "a2n" / "a2n_x2_official.pt"
    result = run_eval(nas_cli, "--scale", "2", "--weights", str(weights), "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere does not exist" in result.stderr
