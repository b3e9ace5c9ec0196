"""``nas report`` and ``nas dashboard`` on a small real study made by the search; pages checked in Chromium."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from conftest import free_port
from scipy import stats

from nas import study as studies
from nas.core import precision, spaces
from nas.core.experiment_design import make_design
from nas.report import analysis, build, experiment_section, report_pages
from nas.search import random_search, run
from nas.search.run import RunSettings
from nas.study import lifecycle, records
from nas.study.folder import StudyFolder
from nas.study.records import Outcome, csv_columns
from nas.study.storage import RANDOM_SEARCH_PLAN

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane


@pytest.fixture(scope="module")
def small_study(space_writer, ray_cluster, small_images, tmp_path_factory) -> StudyFolder:
    """A finished search of 14 trials: 2 depths × {none, ca, pa}, every baseline trained with seeds 0 and 1. Networks
    this small do not beat bicubic: the bar is lowered so that the report reads its front (the default's answer,
    "not drawn", is tested on a copy)."""
    root = tmp_path_factory.mktemp("report_study")
    space_file = space_writer(
        root, "tiny", small_images, ["none", "ca", "pa"], iterations=60, seeds=(0, 1), min_gain_db=-100
    )
    run.search(space_file, RunSettings(trials=14, results=root), stream=io.StringIO())
    folder = StudyFolder(root / "tiny")
    build.build(folder)
    return folder


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_pareto_csv_is_the_brute_force_front_of_trials_csv(small_study: StudyFolder) -> None:
    rows = [r for r in read_rows(small_study.trials_csv) if r["state"] == "COMPLETE"]
    points = [(float(r["psnr"]), float(r["macs"])) for r in rows]
    expected = {
        int(row["number"])
        for row, (psnr, macs) in zip(rows, points, strict=True)
        if not any(p >= psnr and m <= macs and (p > psnr or m < macs) for p, m in points)
    }
    front = read_rows(small_study.root / "report" / "pareto.csv")
    assert {int(r["number"]) for r in front} == expected
    assert list(front[0]) == list(csv_columns())


def test_report_labels_its_numbers_and_measures_seed_noise_from_the_baselines(small_study: StudyFolder) -> None:
    text = (small_study.root / "report" / "report.md").read_text()
    rows = read_rows(small_study.trials_csv)
    trained = [r for r in rows if r["outcome"] == "trained"]
    assert "60 iterations × batch 2 × 16² LR patches" in text and "the search's seeds [0, 1]" in text
    assert "MACs: multiply-adds" in text and "1280×720 HR output" in text
    assert f"trials: {len(trained)} trained" in text
    assert f"trained on: cpu ({precision.precision('cpu')});" in text
    by_genotype: dict[str, list[float]] = {}
    for row in trained:
        by_genotype.setdefault(row["genotype"], []).append(float(row["psnr"]))
    repeated = [np.array(v) for v in by_genotype.values() if len(v) > 1]
    pooled = math.sqrt(sum(((v - v.mean()) ** 2).sum() for v in repeated) / sum(len(v) - 1 for v in repeated))
    dof = sum(len(v) - 1 for v in repeated)
    assert f"Seed noise of one run (yardstick): {pooled:.3f} dB" in text and f"on {dof} degrees of freedom" in text
    # Baselines trained with both seeds (one whose seed-0 run reused a search trial's training is a duplicate, not a
    # baseline run: which one that is depends on the workers' timing).
    frame = analysis.trials_frame(studies.load_study(small_study))
    baseline_runs = frame[(frame["outcome"] == "trained") & frame["baseline"].notna()]
    by_seed = baseline_runs.pivot_table(index="baseline", columns="seed", values="psnr").dropna()
    seed_differences = (by_seed[1] - by_seed[0]).to_numpy()
    # Two seeds, complete: the blocked fit's residual variance is half the variance of the per-baseline seed
    # differences, and a paired difference has twice the residual variance.
    paired = float(np.std(seed_differences, ddof=1))
    assert f"Paired-difference noise (yardstick for runs of one seed): {paired:.3f} dB" in text
    assert f"from {2 * len(seed_differences)} runs of {len(seed_differences)} repeated uniform baselines" in text
    assert "Do mixed placements dominate" not in text and "Front composition (macs; exploratory" in text
    effects = analysis.placement_effects(analysis.trials_frame(studies.load_study(small_study)))
    if effects.residual_std_db is None:  # which trials the search trains varies with the workers' timing
        assert f"not estimable ({effects.observations} trainings for {effects.coefficients} coefficients" in text
    else:
        assert f"over {effects.observations} trainings" in text
        assert "associations in adaptively sampled trials, not effects" in text
    assert "- depth 0:" not in text and "helps:" not in text and "hurts:" not in text
    assert "Best in each macs band (single-run maxima from the search, not confirmed; gain over bicubic)" in text
    assert "PSNR floor: bicubic ×2 of the validation images" in text and "(fixed)" in text
    assert "Y (BT.601 studio range, float64, not rounded; BasicSR convention)" in text
    assert "single-run (search): the Pareto front" in text and "confirmed: nothing yet (run `nas confirm`)" in text
    assert "## Pareto front (single search runs, not confirmed)" in text and "| PSNR (single run) |" in text
    figures = {p.name for p in (small_study.root / "report" / "figures").glob("*.png")}
    assert {"pareto_macs.png", "pareto_params.png", "hypervolume.png"} <= figures
    assert ("placement_effects.png" in figures) == (effects.residual_std_db is not None)  # drawn where estimable


def test_placement_effects_recover_known_effects_with_intervals_whatever_the_seeds_shift() -> None:
    rng = np.random.default_rng(1)
    choices = ["none", "ca", "pa"]
    d0, d1, seed = rng.choice(choices, 60), rng.choice(choices, 60), rng.integers(0, 3, 60)
    # A seed moves every genotype trained with it alike (shared initial weights and patches).
    psnr = 30 + 0.5 * (d0 == "ca") - 0.3 * (d1 == "pa") + np.array([0.0, 0.4, -0.3])[seed] + rng.normal(0, 0.02, 60)
    frame = pd.DataFrame({"d00": d0, "d01": d1, "psnr": psnr, "seed": seed, "outcome": "trained", "state": "COMPLETE"})
    effects = analysis.placement_effects(frame).table.set_index(["depth", "block"])
    for (depth, block), truth in {(0, "ca"): 0.5, (0, "pa"): 0.0, (1, "ca"): 0.0, (1, "pa"): -0.3}.items():
        row = effects.loc[(depth, block)]
        assert row["low_db"] < truth < row["high_db"]
        assert row["high_db"] - row["low_db"] < 0.05


def test_placement_effects_of_confounded_choices_are_not_estimable() -> None:
    rng = np.random.default_rng(2)
    d0 = rng.choice(["none", "ca"], 30)
    d1 = np.where(d0 == "ca", "pa", "none")  # ca at depth 0 always comes with pa at depth 1
    frame = pd.DataFrame({"d00": d0, "d01": d1, "psnr": 37 + rng.normal(0, 0.1, 30), "seed": 0, "outcome": "trained"})
    effects = analysis.placement_effects(frame)
    assert effects.residual_std_db is None and (effects.rank, effects.coefficients) == (2, 3)
    assert effects.table["low_db"].isna().all()
    assert "design rank 2" in build._association_line(effects)


def test_a_study_with_no_attention_trained_yet_has_no_associations_to_fit() -> None:
    frame = pd.DataFrame({"d00": ["none"] * 5, "psnr": [30.0, 30.1, 30.2, 30.0, 29.9], "seed": [0, 1, 2, 0, 1],
                          "outcome": "trained"})  # fmt: skip
    effects = analysis.placement_effects(frame)
    assert effects.table.empty and effects.residual_std_db is None
    assert build._association_line(effects).startswith("Per-depth associations: none yet")


def test_placement_intervals_are_simultaneous_so_pure_noise_shows_no_effect() -> None:
    rng = np.random.default_rng(3)
    choices = ["none", "ca", "pa", "esa", "lia", "spatial", "shuffle", "cam"]
    trainings = 50
    depths = {f"d0{d}": rng.choice(choices, trainings) for d in range(4)}
    frame = pd.DataFrame({**depths, "psnr": 37 + rng.normal(0, 0.2, trainings), "seed": 0, "outcome": "trained"})
    effects = analysis.placement_effects(frame)
    table = effects.table
    dof = effects.observations - effects.coefficients
    per_effect_t, simultaneous_t = stats.t.ppf(0.975, dof), stats.t.ppf(1 - 0.05 / (2 * len(table)), dof)
    half = (table["high_db"] - table["low_db"]) / 2
    # Per-effect 95 % intervals would call some of these pure-noise effects real.
    per_effect_half = half * per_effect_t / simultaneous_t
    assert (table["effect_db"].abs() > per_effect_half).any()
    assert not (table["low_db"] > 0).any() and not (table["high_db"] < 0).any()


def test_hypervolume_curve_matches_the_hypervolume_of_every_prefix_of_the_counted_trials() -> None:
    rng = np.random.default_rng(0)
    count = 300
    state = rng.choice(["COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "RUNNING"], count)
    outcome = np.where(state == "COMPLETE", "trained", np.where(state == "FAIL", "failed", "running"))
    outcome[rng.random(count) < 0.05] = "interrupted"  # killed and run again: not a trial of the count
    frame = pd.DataFrame({
        "number": rng.permutation(count), "state": state, "outcome": outcome,
        "psnr": np.round(rng.normal(37.0, 0.4, count), 1),  # rounded: ties and repeated points
        "macs": np.round(rng.uniform(1.0, 9.0, count)),
    })  # fmt: skip
    reference = analysis.reference_point(frame, "macs")
    curve = analysis.hypervolume_curve(frame, "macs", reference)
    counted = frame[frame["outcome"].isin(["trained", "failed"])].sort_values("number").reset_index(drop=True)
    expected = [analysis.hypervolume(analysis.complete(counted.iloc[: k + 1]), "macs", reference)
                for k in range(len(counted))]  # fmt: skip
    assert curve["trials"].tolist() == list(range(1, len(counted) + 1))
    volumes = curve["hypervolume"].to_numpy()
    assert volumes == pytest.approx(expected, rel=1e-12)
    assert volumes[-1] > volumes[volumes > 0][0] > 0


def test_report_works_on_a_running_study_with_failures(small_study: StudyFolder, tmp_path: Path) -> None:
    copy = StudyFolder(tmp_path / "tiny")
    shutil.copytree(small_study.root, copy.root, ignore=shutil.ignore_patterns("report"))
    source = studies.load_study(copy)
    distributions = source.trials[0].distributions
    source.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, params=source.trials[0].params, distributions=distributions,
        user_attrs={"outcome": Outcome.FAILED.value, "error": "RuntimeError: boom", "genotype": "x2.c16.u4:none*2"},
    ))  # fmt: skip
    source.ask()  # a trial in flight
    built = build.build(copy)
    assert "1 failed" in built.markdown and "1 still running" in built.markdown


def test_report_labels_the_default_budget_and_data_of_a_space_that_leaves_them_out(
    small_study: StudyFolder, tmp_path: Path
) -> None:
    copy = StudyFolder(tmp_path / "tiny")
    shutil.copytree(small_study.root, copy.root, ignore=shutil.ignore_patterns("report"))
    space_doc = yaml.safe_load(copy.space_file.read_text())
    del space_doc["proxy"], space_doc["data"]
    copy.pin_space(spaces.parse(space_doc))
    built = build.build(copy)
    assert (
        "proxy budget: 2000 iterations × batch 16 × 64² LR patches, lr 0.0005; the search's seeds [0]" in built.markdown
    )
    assert "data: train `builtin`, validation `builtin`" in built.markdown


def test_missing_or_empty_study_exits_2_with_a_message(
    in_process, space_writer, tmp_path: Path, small_images: Path
) -> None:
    missing = in_process(["report", str(tmp_path / "nowhere")])
    assert missing.returncode == 2 and "no study here" in missing.stderr and "Traceback" not in missing.stderr
    space_file = space_writer(tmp_path, "empty", small_images, ["none", "ca"])
    folder = StudyFolder(tmp_path / "results" / "empty")
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)
    empty = in_process(["report", str(folder.root)])
    assert empty.returncode == 2 and "no complete trial yet" in empty.stderr


def test_search_warns_about_what_the_report_of_its_space_cannot_show(
    space_writer, ray_cluster, small_images: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    space_file = space_writer(tmp_path, "thin", small_images, ["none", "ca", "pa", "esa"], iterations=5)
    with caplog.at_level(logging.INFO, logger="nas"):
        run.search(space_file, RunSettings(trials=1, results=tmp_path), stream=io.StringIO())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "proxy.seeds lists one seed: the report will have no seed-noise estimate" in warnings[0]
    assert "per-depth regression has 7 coefficients but the study runs 1 trials" in warnings[1]


def chrome():
    """Headless Chromium through Debian's chromium-driver; the test is skipped where they are not installed."""
    webdriver = pytest.importorskip("selenium.webdriver")
    driver_path = shutil.which("chromedriver")
    if driver_path is None or shutil.which("chromium") is None:
        pytest.skip("chromium and chromium-driver are not installed (bash .ci/setup --tests installs them)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=driver_path)
    return webdriver.Chrome(options=options, service=service)


def _screenshot_spread(driver) -> float:
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L"), dtype=float)
    return float(pixels.std())


# What a page shows of its Markdown sections: per section, the text of its elements by kind, and its visible text.
RENDERED = """
const found = {};
for (const section of document.querySelectorAll('section.markdown')) {
  const texts = (selector) => [...section.querySelectorAll(selector)].map((element) => element.textContent);
  found[section.id] = {
    items: texts(':scope > ul > li'), nested: texts('li li'), code: texts('code'), strong: texts('strong'),
    cells: texts('td'), headers: texts('th'), blocks: texts('pre code'), text: section.innerText,
  };
}
found.body = document.body.innerText;
return found;
"""


def _visible_markdown(rendered: dict) -> str:
    """The visible text of the page's Markdown sections."""
    return "\n".join(part["text"] for name, part in rendered.items() if name != "body")


def test_index_html_renders_its_plots_offline_without_console_errors(small_study: StudyFolder) -> None:
    driver = chrome()
    try:
        driver.get((small_study.root / "report" / "index.html").as_uri())
        time.sleep(1.0)
        plots = driver.execute_script("return document.querySelectorAll('.js-plotly-plot .main-svg').length")
        points = driver.execute_script("return document.querySelectorAll('.js-plotly-plot .point').length")
        rendered = driver.execute_script(RENDERED)
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        spread = _screenshot_spread(driver)
    finally:
        driver.quit()
    assert plots >= 5 and points > 14
    assert errors == []
    assert spread > 10  # not a blank page
    # The verdict's Markdown is rendered: its bands a list, genotype ids code, its lead-ins bold; no markup shows.
    markdown = small_study.report_markdown.read_text()
    verdict_md = markdown.split("## Verdict")[1].split("## What the numbers measure")[0]
    bands = [line[2:] for line in verdict_md.splitlines() if line.startswith("- ")]
    verdict = rendered["verdict"]
    assert len(verdict["items"]) == len(bands) >= 1
    genotype_ids = [line.split("`")[1] for line in bands]
    assert [code for code in verdict["code"] if code in genotype_ids] == genotype_ids
    assert verdict["strong"] == [
        "Search numbers are exploratory.", "Search against random sampling:",
        "Front composition (macs; exploratory, single search runs, every seed):",
    ]  # fmt: skip
    labels = [line[2:] for line in markdown.split("## What the numbers measure")[1].split("##")[0].splitlines()
              if line.startswith("- ")]  # fmt: skip
    assert len(rendered["labels"]["items"]) == len(labels) >= 5 and "nas confirm" in rendered["labels"]["code"]
    visible = _visible_markdown(rendered)
    assert "`" not in visible and "**" not in visible
    assert not [line for line in rendered["body"].splitlines() if line.lstrip().startswith("- ")]


def test_the_reports_markdown_renders_as_tables_nested_lists_and_code_in_a_browser(tmp_path: Path) -> None:
    """The report's page made from Markdown that holds what its verdicts can: a table with a pipe in code and an
    escaped one, nested items, a code block with < and &, bold, and text that must stay as written."""
    verdict = [
        "**Do mixed placements beat uniform ones?** From confirmation runs (`a < b & c`).",
        "- against `uniform:ca`: **yes**",
        "  - `x2.c16.u4:ca-pa` 30.100 dB vs 30.000 dB: +0.100 dB → better",
        "  - `x2.c16.u4:pa-ca` 30.050 dB vs 30.000 dB: +0.050 dB → inconclusive",
        "| effect | estimate | interval |",
        "|:---|---:|:---:|",
        "| `pa` at depths 0-1 | +0.120 dB | [+0.020, +0.220] |",
        "| `a|b` \\| c | −0.010 dB | [−0.090, +0.070] |",
        "```\nPSNR ~ arm + seed  # <OLS> & Bonferroni\n```",  # a block is one line of the verdict
        "2 * 3 and none*2 stay as written.",
    ]
    page = tmp_path / "index.html"
    page.write_text(
        report_pages.html_page(["space `tiny`", "confirmed: nothing yet (run `nas confirm`)"], verdict, None, [], "")
    )
    driver = chrome()
    try:
        driver.get(page.as_uri())
        rendered = driver.execute_script(RENDERED)
    finally:
        driver.quit()
    part = rendered["verdict"]
    assert part["items"][0].startswith("against uniform:ca: yes") and len(part["items"]) == 1
    assert [item.split(" ")[0] for item in part["nested"]] == ["x2.c16.u4:ca-pa", "x2.c16.u4:pa-ca"]
    assert part["headers"] == ["effect", "estimate", "interval"]
    assert part["cells"] == ["pa at depths 0-1", "+0.120 dB", "[+0.020, +0.220]",
                             "a|b | c", "−0.010 dB", "[−0.090, +0.070]"]  # fmt: skip
    assert part["blocks"] == ["PSNR ~ arm + seed  # <OLS> & Bonferroni\n"]
    assert part["strong"] == ["Do mixed placements beat uniform ones?", "yes"]
    assert "a < b & c" in part["code"] and rendered["labels"]["code"] == ["tiny", "nas confirm"]
    assert "2 * 3 and none*2 stay as written." in part["text"]
    visible = _visible_markdown(rendered)
    assert "`" not in visible and "**" not in visible and "\\|" not in visible
    assert not [line for line in rendered["body"].splitlines() if line.lstrip().startswith("- ")]


def test_dashboard_serves_the_study_over_http_and_in_the_browser(small_study: StudyFolder) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nas", "dashboard", str(small_study.root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert f"http://127.0.0.1:{port}/" in server.stdout.readline()
        summaries = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    summaries = json.load(response)["study_summaries"]
                break
            except OSError:
                time.sleep(0.2)
        assert summaries is not None and [s["study_name"] for s in summaries] == ["tiny"]
        study_id = summaries[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}?after=0", timeout=5) as response:
            detail = json.load(response)
        stored = studies.load_study(small_study).trials
        assert len(detail["trials"]) == len(stored)
        assert detail["objective_names"] == ["psnr", "macs"]
        assert {plot["id"] for plot in detail["plotly_graph_objects"]} >= {"pareto-macs", "hypervolume"}
        assert "Front composition" in detail["note"]["body"]
        driver = chrome()
        try:
            driver.get(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "psnr" not in driver.find_element("tag name", "body").text:
                time.sleep(0.5)
            page = driver.find_element("tag name", "body").text
        finally:
            driver.quit()
        assert "tiny" in page and "psnr" in page
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_experiment_planned_on_a_search_takes_its_noise_from_paired_baselines(small_study: StudyFolder) -> None:
    design = make_design(small_study.space(), ("pa",), ((0,), (1,)), (5, 6), 0.05, "conv")
    power = experiment_section.planned_power(small_study, design)
    paired = analysis.paired_noise(analysis.trials_frame(studies.load_study(small_study)))
    assert paired.std_db is not None and paired.baselines == 3
    (every,) = power.families  # the baselines' paired sd serves every contrast family
    assert every.paired_sd_db == pytest.approx(paired.std_db)
    assert every.paired_sd_range_db == pytest.approx((paired.low_db, paired.high_db))
    assert every.source.startswith("paired-difference noise of the search's repeated baselines")


def test_nas_report_replaces_links_in_its_files_and_refuses_a_linked_report_folder(
    small_study: StudyFolder, nas_cli, in_process, tmp_path: Path
) -> None:
    outside = tmp_path / "precious.md"
    outside.write_text("keep me\n")
    for output in (small_study.report_markdown, small_study.pareto_csv, small_study.figures / "hypervolume.png"):
        output.unlink()
        output.symlink_to(outside)
    relative = Path(os.path.relpath(small_study.root))  # as a user types it, from where they are
    assert nas_cli("report", str(relative)).returncode == 0
    assert outside.read_text() == "keep me\n"
    assert not small_study.report_markdown.is_symlink() and small_study.report_markdown.read_text().startswith("# ")
    assert not small_study.pareto_csv.is_symlink() and not (small_study.figures / "hypervolume.png").is_symlink()
    moved = tmp_path / "elsewhere"
    small_study.report.rename(moved)
    small_study.report.symlink_to(moved, target_is_directory=True)
    try:
        result = in_process(["report", str(small_study.root)])
        assert (
            result.returncode == 2
            and "report is a symbolic link; the harness never writes through one" in result.stderr
        )
        assert "Traceback" not in result.stderr
    finally:
        small_study.report.unlink()
        moved.rename(small_study.report)


def test_a_front_of_networks_under_the_minimum_gain_gets_no_composition_and_no_band_answers(
    small_study: StudyFolder, tmp_path: Path
) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(small_study.root, copy, ignore=shutil.ignore_patterns("report", "search.lock"))
    pinned = json.loads((copy / "space.json").read_text())
    pinned["proxy"]["min_gain_db"] = 0.5  # the default bar: these 60-iteration networks are under bicubic
    (copy / "space.json").write_text(json.dumps(pinned))
    report = build.build(StudyFolder(copy))
    trained = [r for r in read_rows(small_study.trials_csv) if r["outcome"] == "trained"]
    assert max(float(r["gain_db"]) for r in trained) < 0.5  # planted: every network under the bar
    text = " ".join(report.markdown.split())
    assert "**Front composition (macs):** not drawn: the front's networks score " in text
    assert "under the 0.5 dB this space asks of a proxy that has learned (proxy.min_gain_db)" in text
    assert "Hypervolume" not in text.split("## Verdict", 1)[1].split("##", 1)[0]
    bands = [line for line in report.markdown.splitlines() if line.startswith("- ") and "over bicubic)" in line]
    assert bands and all("not drawn: the band's networks score" in line for line in bands if "best uniform" in line)


def test_random_searches_reuse_the_searchs_trainings_add_repeats_and_enter_the_report(
    small_study: StudyFolder, ray_cluster, tmp_path: Path
) -> None:
    copy = StudyFolder(tmp_path / "tiny")
    shutil.copytree(small_study.root, copy.root, ignore=shutil.ignore_patterns("report"))
    command = [sys.executable, "-m", "nas", "random-search", str(copy.root), "--repeats", "2", "--json"]
    first = subprocess.run([*command, "--address", ray_cluster.address], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout)["repeats"] == 2 and json.loads(first.stdout)["trials"] == 14
    plan = studies.load_designed(copy, studies.Kind.RANDOM).user_attrs[RANDOM_SEARCH_PLAN]
    random_trained = [
        (record.genotype, record.seed)
        for record in map(records.record_of, studies.load_designed(copy, studies.Kind.RANDOM).get_trials())
        if record.outcome is Outcome.TRAINED
    ]
    search_trained = {
        (record.genotype, record.seed)
        for record in map(records.record_of, studies.load_study(copy).get_trials())
        if record.outcome is Outcome.TRAINED
    }
    assert len(random_trained) == len(set(random_trained)) and not search_trained & set(random_trained)
    assert {tuple(run) for sequence in plan["sequences"] for run in sequence} <= search_trained | set(random_trained)

    more = random_search.plan(copy, copy.space(), repeats=3)  # a larger total keeps the repeats recorded
    assert [[list(run) for run in sequence] for sequence in more.sequences[:2]] == plan["sequences"]
    assert len(more.sequences) == 3 and more.sequences[2] != more.sequences[1]

    report = build.build(copy)
    numbers = json.loads(json.dumps(report.to_json(), allow_nan=False))["numbers"]["random_search"]
    assert numbers["trials"] == 14 and len(numbers["random_hypervolumes"]) == 2 and numbers["missing"] == 0
    assert numbers["p_value"] == pytest.approx((2 - numbers["above"] + 1) / 3)
    assert "**Search against random sampling (macs, proxy PSNR, after 14 trials" in report.markdown
