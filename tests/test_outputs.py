"""``nas.trained.outputs``: the ``--out`` folder of ``nas ablate``, ``nas attention-maps`` and ``nas export``, checked
before any work and written after it, called as a library caller calls it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.errors import InputError
from nas.trained import outputs


def test_the_folder_is_made_and_its_outputs_written_as_valid_json(tmp_path: Path) -> None:
    out = tmp_path / "made" / "here"
    outputs.output_folder(str(out), "ablation")
    assert out.is_dir()
    drawn = []
    outputs.write_outputs(str(out), "ablation", {"psnr": float("inf"), "depths": [1]}, drawn.append)
    assert json.loads((out / "ablation.json").read_text()) == {"psnr": None, "depths": [1]}
    assert drawn == [out / "ablation.png"]
    outputs.output_folder(None, "ablation")  # no --out: nothing to check
    outputs.write_outputs(None, "ablation", {}, drawn.append)  # nor to write
    assert len(drawn) == 1


def test_an_out_that_cannot_take_the_outputs_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "file"
    taken.write_text("keep me")
    with pytest.raises(InputError, match=f"^--out {taken} is a file; pass a folder"):
        outputs.output_folder(str(taken), "ablation")
    (tmp_path / "out" / "ablation.png").mkdir(parents=True)
    with pytest.raises(InputError, match="ablation.png is a folder; move it aside or pass another --out$"):
        outputs.output_folder(str(tmp_path / "out"), "ablation")
    assert taken.read_text() == "keep me"
