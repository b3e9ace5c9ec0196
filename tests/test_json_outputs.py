"""Every --json output is valid JSON, also where a number is not finite (a PSNR of identical images)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from PIL import Image


def test_a_constant_image_evaluates_to_a_null_psnr_not_infinity(tmp_path: Path, reference: Path, nas_cli) -> None:
    Image.new("RGB", (48, 48), (120, 120, 120)).save(tmp_path / "grey.png")
    weights = reference / "a2n" / "a2n_x2_official.pt"
    result = nas_cli(
        "eval", "--arch", "a2n", "--scale", "2", "--weights", str(weights), "--data", str(tmp_path), "--json"
    )
    assert result.returncode == 0, result.stderr
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout
    record = json.loads(result.stdout)  # the standard's JSON: no Infinity token
    assert record["images"][0]["psnr"] is None and record["mean"]["psnr"] is None
    assert math.isclose(record["images"][0]["ssim"], 1.0)  # the network reproduces the flat image exactly
    assert "grey: inf dB" in result.stderr  # the progress line still says what was measured
