"""The library calls behind ``nas train``, ``nas eval``, ``nas ablate``, ``nas attention-maps``, ``nas cost`` and
``nas experiment --plan``, called as a library caller calls them (``tests/test_trained.py`` runs the commands)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from nas.core import counting, resumable
from nas.core.power import PlannedPower
from nas.core.spaces import SpaceError, load
from nas.errors import InputError
from nas.trained import analyses, saved_training
from nas.trained.analyses import NetworkSource

TINY_GENOTYPE = "x2.c16.u4:a2b-none-pa-ca"  # an a2b slot, an empty one, a spatial gate and a channel gate


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_space(tmp_path_factory, space_writer, small_images) -> Path:
    return space_writer(tmp_path_factory.mktemp("tiny"), "tiny", small_images, ["none", "a2b", "pa", "ca"], depth=4)


@pytest.fixture(scope="module")
def trained(tiny_space) -> saved_training.TrainedGenotype:
    """``train_genotype`` with one override, saved beside the space."""
    save = str(tiny_space.parent / "net.pt")
    request = saved_training.TrainRequest(tiny_space, TINY_GENOTYPE, save=save, overrides={"proxy.iterations": "12"})
    return saved_training.train_genotype(request, "cpu")


def test_train_genotype_trains_with_the_overrides_and_saves_the_checkpoint(trained) -> None:
    assert not trained.failed and trained.seed == 0 and trained.budget.iterations == 12
    assert trained.saved is not None and Path(trained.saved).is_file()
    assert not resumable.resume_path(trained.saved).exists()  # the checkpoint supersedes the resumable state
    metadata = json.loads(torch.load(trained.saved, weights_only=True)["metadata"])
    assert metadata["overridden"] == ["proxy.iterations"] and metadata["budget"]["iterations"] == 12
    assert trained.to_json()["genotype"] == TINY_GENOTYPE and trained.to_json()["psnr"] == metadata["psnr"]
    assert trained.to_text().splitlines()[-1].startswith(f"saved           {trained.saved}  (nas eval --checkpoint")


def test_a_failed_training_prints_its_reason(trained) -> None:
    failed = saved_training.TrainedGenotype(trained.genotype, 0, trained.budget, failure="loss is NaN")
    assert failed.failed and failed.to_text() == "failed: loss is NaN"
    assert failed.to_json() == {"genotype": TINY_GENOTYPE, "failed": "loss is NaN"}


def test_overrides_are_checked_as_the_space_keys_and_named_by_their_option(tiny_space) -> None:
    space = load(tiny_space)
    assert saved_training.overridden_space(space, {"proxy.lr": "0.01"}).proxy.lr == 0.01
    with pytest.raises(SpaceError, match="--iterations"):
        saved_training.overridden_space(space, {"proxy.iterations": "0"})
    with pytest.raises(InputError, match=r"cannot replace \['proxy.seeds'\]"):
        saved_training.overridden_space(space, {"proxy.seeds": "[1]"})


def test_evaluate_network_scores_the_checkpoint_as_trained_with_a_line_per_image(trained, small_images) -> None:
    progress = io.StringIO()
    found = analyses.evaluate_network(NetworkSource(checkpoint=trained.saved), small_images, "cpu", progress=progress)
    assert found.to_json()["mean"]["psnr"] == trained.to_json()["psnr"] and found.to_json()["refused_images"] == []
    lines = progress.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].startswith("nas eval: image 1/4 ")
    assert found.to_text().startswith(f"{TINY_GENOTYPE} x2 on {small_images} (float Y channel, border 2")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (NetworkSource(), "name the network: --checkpoint PATH, or --arch a2n"),
        (NetworkSource(arch="a2n", scale=2), "name the network"),
        (NetworkSource(checkpoint="x.pt", arch="a2n"), "give either --checkpoint PATH or --arch a2n"),
        (NetworkSource(checkpoint="x.pt", input_range=255.0), "--input-range is for --weights"),
    ],
)
def test_a_source_that_names_no_network_or_two_is_refused(source, message) -> None:
    with pytest.raises(InputError, match=message):
        analyses.trained_network(source, "cpu")


def test_a_checkpoint_of_another_scale_is_refused(trained) -> None:
    with pytest.raises(InputError, match="--scale 3 differs from the checkpoint's scale 2"):
        analyses.trained_network(NetworkSource(checkpoint=trained.saved, scale=3), "cpu")


def test_map_attention_shows_its_result_before_writing_its_files(trained, small_images, tmp_path) -> None:
    shown = []

    def show(result: analyses.Analysed) -> None:
        shown.append(result.to_json())
        assert not (tmp_path / "attention_maps.json").exists()  # nothing written yet

    maps = analyses.map_attention(NetworkSource(checkpoint=trained.saved), small_images, 2, out=tmp_path, show=show)
    assert shown == [maps.to_json()] and len(maps.to_json()["images"]) == 2
    assert json.loads((tmp_path / "attention_maps.json").read_text())["refused_images"] == []
    assert (tmp_path / "attention_maps.png").is_file() and "mean r" in maps.to_text()


def test_an_out_folder_that_is_a_file_stops_before_any_work(small_images, tmp_path) -> None:
    (tmp_path / "file").write_text("")
    source = NetworkSource()  # would be refused later: the folder is checked first
    with pytest.raises(InputError, match="is a file"):
        analyses.ablate_network(source, small_images, out=tmp_path / "file")
    with pytest.raises(InputError, match="is a file"):
        analyses.map_attention(source, small_images, out=tmp_path / "file")


@pytest.mark.slow
def test_ablate_network_shows_its_result_and_writes_it(trained, small_images, tmp_path) -> None:
    shown = []
    found = analyses.ablate_network(
        NetworkSource(checkpoint=trained.saved), small_images, "0,2-3", "remove", "cpu", out=tmp_path, show=shown.append
    )
    assert shown == [found] and found.to_json()["baseline"]["mean"]["psnr"] == trained.to_json()["psnr"]
    assert json.loads((tmp_path / "ablation.json").read_text()) == json.loads(json.dumps(found.to_json()))
    assert (tmp_path / "ablation.png").is_file()


def test_genotype_cost_resolves_the_genotype_in_its_space(tiny_space) -> None:
    cost = counting.genotype_cost(tiny_space, "uniform:pa")
    assert str(cost.genotype) == "x2.c16.u4:pa*4" and cost.to_json()["genotype"] == "x2.c16.u4:pa*4"
    assert cost.to_json()["macs"] == counting.network_cost(cost.genotype).macs
    assert cost.to_text() == counting.network_cost(cost.genotype).to_text("x2.c16.u4:pa*4", None)


def test_plan_experiment_takes_the_power_as_a_value_or_as_a_function_of_the_study(
    space_writer, small_images, tmp_path
) -> None:
    from nas.report import experiment_section
    from nas.search import experiment
    from nas.search.run import RunSettings

    extra = "experiment: {blocks: [pa], groups: [[0], [1]], seeds: [5, 6], control: null}\n"
    space = space_writer(tmp_path, "planned", small_images, ["none", "pa"], extra=extra)
    settings = RunSettings(results=tmp_path / "results")
    asked = []

    def power(folder, design) -> PlannedPower:
        asked.append(folder.root)
        return experiment_section.planned_power(folder, design)

    planned = experiment.plan_experiment(space, settings, power)
    assert asked == [tmp_path / "results" / "planned"] and planned.runs_left == len(planned.prepared.runs)
    given = experiment.plan_experiment(space, settings, planned.power)
    assert given.power == planned.power and given.to_json()["families"] == planned.to_json()["families"]
    assert not (tmp_path / "results").exists()  # planning writes nothing
