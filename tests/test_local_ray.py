"""The Ray a search starts here listens on loopback only and says nothing about authentication; joining a cluster
with token authentication without its token stops with the remedy, which works."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas.search import local_ray

LOCAL = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token"}
UNSET = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": None, "RAY_AUTH_MODE": None}
SEARCH_TIMEOUT_S = 180
OWNER = re.compile(r'\("([^"]+)",pid=(\d+)')


def _descendants(root: int) -> set[int]:
    """``root`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(command name)": state, ppid, ...
        except OSError:
            continue  # the process ended while being read
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, waiting = set(), [root]
    while waiting:
        pid = waiting.pop()
        found.add(pid)
        waiting.extend(children.get(pid, []))
    return found


def _listening(pids: set[int]) -> set[tuple[str, str]]:
    """(process name, local address) of each TCP socket that one of ``pids`` listens on."""
    sockets = set()
    for line in subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]:
        local = line.split()[3]
        sockets |= {(name, local) for name, pid in OWNER.findall(line) if int(pid) in pids}
    return sockets


def _is_loopback(local: str) -> bool:
    host = local.rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # "*": every interface
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _search_command(space_file: Path, results: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "nas", "search", "--space", str(space_file), "--results", str(results), "--trials", "2",
        *extra,
    ]  # fmt: skip


@contextlib.contextmanager
def _ray_temp() -> Iterator[Path]:
    """A short-lived RAY_TMPDIR, short because Ray's socket paths live under it: Ray's files, including the
    record of the last `ray start` cluster, stay out of /tmp/ray."""
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _without_ray_settings(**given: str) -> dict[str, str]:
    """This process's environment less the Ray variables a command may read, plus ``given``."""
    names = {*local_ray.LOCAL_RAY_ENVIRONMENT, "RAY_ADDRESS", "RAY_AUTH_TOKEN"}
    return {k: v for k, v in os.environ.items() if k not in names} | given


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to list listening sockets")
def test_a_search_starts_its_own_ray_on_loopback_only_and_prints_no_authentication_note(
    space_writer, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "loopback", small_images, ["none", "ca"], iterations=60)
    log = tmp_path / "stderr.txt"
    with _ray_temp() as ray_temp, log.open("w") as stderr:
        # the record a `ray start` cluster leaves when it is killed: Ray's own default would join it and wait forever
        (ray_temp / "ray").mkdir()
        (ray_temp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{_free_port()}")
        searching = subprocess.Popen(
            _search_command(space_file, tmp_path), stdout=subprocess.DEVNULL, stderr=stderr,
            env=_without_ray_settings(RAY_TMPDIR=str(ray_temp)),
        )  # fmt: skip
        try:
            sockets: set[tuple[str, str]] = set()
            deadline = time.monotonic() + SEARCH_TIMEOUT_S
            while searching.poll() is None and time.monotonic() < deadline:
                sockets |= _listening(_descendants(searching.pid))
                time.sleep(0.3)
        finally:
            searching.kill()  # only if it outlived the deadline
            searching.wait()
    output = log.read_text()
    assert searching.returncode == 0, output[-2000:]
    assert {"gcs_server", "raylet"} <= {name for name, _ in sockets}, sockets  # Ray's own servers were seen
    assert [s for s in sockets if not _is_loopback(s[1])] == []
    assert "Token authentication" not in output


def test_the_command_line_imports_ray_only_after_setting_the_local_environment() -> None:
    probe = "import sys, nas.cli; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"


def _environment_after_prepare(address: str | None, *, import_ray_first: bool = False, **given: str) -> dict:
    probe = (
        ("import ray\n" if import_ray_first else "")
        + f"import json, os\nfrom nas.search import local_ray\nlocal_ray.prepare({address!r})\n"
        + "print(json.dumps({name: os.environ.get(name) for name in local_ray.LOCAL_RAY_ENVIRONMENT}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=_without_ray_settings(**given)
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("address", "given", "import_ray_first", "expected"),
    [
        (None, {}, False, LOCAL),
        ("local", {}, False, LOCAL),
        (None, {"RAY_AUTH_MODE": "disabled"}, False, LOCAL | {"RAY_AUTH_MODE": "disabled"}),
        ("10.0.0.5:6379", {}, False, UNSET),
        ("auto", {}, False, UNSET),
        (None, {"RAY_ADDRESS": "10.0.0.5:6379"}, False, UNSET),
        (None, {}, True, UNSET),
    ],
    ids=["local", "address-local", "user-choice-kept", "joins-a-cluster", "auto-finds-one", "ray-job", "ray-imported"],
)  # fmt: skip
def test_prepare_sets_the_environment_only_for_a_local_start_before_ray_is_imported(
    address, given, import_ray_first, expected
):
    assert _environment_after_prepare(address, import_ray_first=import_ray_first, **given) == expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def test_joining_a_token_cluster_without_its_token_stops_with_the_remedy_and_the_remedy_joins(
    space_writer, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "token", small_images, ["none", "ca"])
    port = _free_port()
    command = _search_command(space_file, tmp_path, "--address", f"127.0.0.1:{port}")
    with _ray_temp() as ray_temp:
        with_token = _without_ray_settings(
            RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_TMPDIR=str(ray_temp)
        )
        head = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}", "--num-cpus=1",
             "--include-dashboard=false", "--block"],
            env=with_token, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for_port(port)
            no_token = _without_ray_settings(RAY_TMPDIR=str(ray_temp))
            refused = subprocess.run(command, capture_output=True, text=True, env=no_token, timeout=SEARCH_TIMEOUT_S)
            joined = subprocess.run(command, capture_output=True, text=True, env=with_token, timeout=SEARCH_TIMEOUT_S)
        finally:
            head.terminate()
            head.wait(timeout=60)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr
    message = refused.stderr.splitlines()[-1]
    assert message.startswith(f"nas search: error: Ray could not join the cluster at 127.0.0.1:{port}")
    assert "set RAY_AUTH_MODE=token" in message
    assert joined.returncode == 0, joined.stderr[-2000:]  # the same command, with the token: the study resumes
    assert ": 2 trials (2 trained" in joined.stdout
