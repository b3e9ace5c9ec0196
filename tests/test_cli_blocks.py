"""``nas blocks`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import blocks


def _registered_in_a_fresh_process() -> list[str]:
    """The registry as `nas blocks` starts with it: plugins other tests loaded into this process are not in it."""
    probe = "import blocks, json; print(json.dumps(blocks.names()))"
    return json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True).stdout)


def test_table_lists_every_block_with_its_parameter_count(nas_cli) -> None:
    result = nas_cli("blocks", "--channels", "40")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(lines) == set(_registered_in_a_fresh_process())
    assert "62,860" in lines["a2b"] and "15x15" in lines["esa"]


def test_json_matches_the_registry(nas_cli) -> None:
    result = nas_cli("blocks", "--channels", "48", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["channels"] == 48
    by_name = {row["name"]: row for row in listing["blocks"]}
    assert list(by_name) == _registered_in_a_fresh_process()
    for name, row in by_name.items():
        expected = sum(p.numel() for p in blocks.create(name, 48).parameters())
        assert row["params"] == expected, name


def test_blocks_that_cannot_be_built_at_a_width_say_why(in_process) -> None:
    listing = json.loads(in_process(["blocks", "--channels", "3", "--json"]).stdout)
    by_name = {row["name"]: row for row in listing["blocks"]}
    assert by_name["a2b"]["params"] is None and "reduction" in by_name["a2b"]["note"]
    assert by_name["pa"]["params"] == 12


def test_bad_width_exits_with_status_2(in_process) -> None:
    result = in_process(["blocks", "--channels", "0"])
    assert result.returncode == 2
    assert "positive integer" in result.stderr and "Traceback" not in result.stderr
