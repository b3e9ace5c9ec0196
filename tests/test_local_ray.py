"""The Ray a search starts here listens on loopback only and says nothing about authentication; joining a cluster
with token authentication without its token stops with the remedy, which works; the probe of a cluster address
tells Ray (gRPC, or TLS) from other servers."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

from nas.errors import InputError
from nas.search import local_ray, preflight

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane

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
    names = {*local_ray.LOCAL_RAY_ENVIRONMENT, *local_ray.DRIVER_ENVIRONMENT, "RAY_ADDRESS", "RAY_AUTH_TOKEN"}
    return {k: v for k, v in os.environ.items() if k not in names} | given


def _outbound_address() -> str | None:
    """The address this machine reaches others from (a UDP connect sends nothing), None without a route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like any outside address, never answered
        except OSError:
            return None
        return probe.getsockname()[0]


def _stop_group(process: subprocess.Popen, timeout: float = 60) -> None:
    """Terminates ``process`` (started in a session of its own) and, if it outlives ``timeout``, its whole group."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to list listening sockets")
@pytest.mark.skipif(
    _outbound_address() in (None, "127.0.0.1"), reason="this machine's only address is loopback: nothing to show"
)
def test_a_search_starts_its_own_ray_on_loopback_only_and_prints_no_authentication_note(
    space_writer, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "loopback", small_images, ["none", "ca"], iterations=60)
    log = tmp_path / "stderr.txt"
    with _ray_temp() as ray_temp, log.open("w") as stderr:
        # the record a `ray start` cluster leaves when it is killed: Ray's own default would join it and retry
        (ray_temp / "ray").mkdir()
        (ray_temp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")
        # a token of its own, so Ray does not write one into the home folder of whoever runs the tests
        environment = _without_ray_settings(RAY_TMPDIR=str(ray_temp), RAY_AUTH_TOKEN=secrets.token_hex(32))
        searching = subprocess.Popen(
            _search_command(space_file, tmp_path), stdout=subprocess.DEVNULL, stderr=stderr, env=environment,
            start_new_session=True,
        )  # fmt: skip
        sockets: set[tuple[str, str]] = set()
        deadline = time.monotonic() + SEARCH_TIMEOUT_S
        while searching.poll() is None and time.monotonic() < deadline:
            sockets |= _listening(_descendants(searching.pid))
            time.sleep(0.3)
        if searching.poll() is None:
            _stop_group(searching, timeout=10)
    output = log.read_text()
    assert searching.returncode == 0, output[-2000:]
    assert {"gcs_server", "raylet"} <= {name for name, _ in sockets}, sockets  # Ray's own servers were seen
    assert [s for s in sockets if not _is_loopback(s[1])] == []
    assert "Token authentication" not in output


def test_the_command_line_sets_the_local_environment_before_it_imports_ray() -> None:
    probe = (
        "import json, os, sys\nimport nas.cli\nbefore = 'ray' in sys.modules\nnas.cli.trial_runner(None)\n"
        "print(json.dumps([before, 'ray' in sys.modules, os.environ.get('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER')]))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_without_ray_settings())
    assert json.loads(result.stdout) == [False, True, "0"], result.stderr[-2000:]


def test_the_command_line_keeps_its_own_sigterm_handling_while_ray_starts_and_its_ray_processes_keep_theirs() -> None:
    # Ray reads the setting once, on import: the command's process has it, the processes Ray starts later do not.
    probe = (
        "import json, os\nimport nas.cli\nnas.cli.trial_runner(None)\nfrom ray._private import ray_constants\n"
        "print(json.dumps([ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER, "
        "os.environ.get('RAY_DISABLE_FAILURE_SIGNAL_HANDLER')]))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_without_ray_settings())
    assert json.loads(result.stdout) == [True, None], result.stderr[-2000:]


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


def _wait_for_port(port: int, head: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and head.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the Ray head on port {port} did not start (exit status {head.poll()})")


def finished(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """``process`` run to its end (killed after SEARCH_TIMEOUT_S), as ``subprocess.run`` returns it."""
    try:
        stdout, stderr = process.communicate(timeout=SEARCH_TIMEOUT_S)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_joining_a_token_cluster_without_its_token_stops_with_the_remedy_and_the_remedy_joins(
    space_writer, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "token", small_images, ["none", "ca"])
    port = free_port()
    command = _search_command(space_file, tmp_path, "--address", f"127.0.0.1:{port}")
    with _ray_temp() as ray_temp:
        token = secrets.token_hex(32)
        with_token = _without_ray_settings(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_TMPDIR=str(ray_temp))
        head = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}", "--num-cpus=1",
             "--include-dashboard=false", "--block"],
            env=with_token, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_port(port, head)
            refusing = (
                _without_ray_settings(RAY_TMPDIR=str(ray_temp)),  # no authentication at all
                {**with_token, "RAY_AUTH_TOKEN": secrets.token_hex(32)},  # another cluster's token
                _without_ray_settings(  # token mode, but no token
                    RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp_path / "none"), RAY_TMPDIR=str(ray_temp)
                ),
            )
            # The refusals and the remedy run at once, each in a results folder of its own (a study folder takes
            # one run at a time): the refusals wait on Ray's own join retries, not on this machine's cores.
            attempts = [
                subprocess.Popen(
                    _search_command(space_file, tmp_path / f"refused{index}", "--address", f"127.0.0.1:{port}"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=environment,
                )  # fmt: skip
                for index, environment in enumerate(refusing)
            ]
            joining = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=with_token
            )
            processes = (*attempts, joining)
            try:
                *refused, joined = [finished(process) for process in processes]
            finally:
                for process in processes:
                    process.kill()  # one that timed out leaves the others running otherwise
        finally:
            _stop_group(head)
    for result in refused:
        assert result.returncode == 2, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        message = result.stderr.splitlines()[-1]
        assert message.startswith(f"nas search: error: Ray could not join the cluster at 127.0.0.1:{port}: it uses")
        assert "set RAY_AUTH_MODE=token" in message
    assert joined.returncode == 0, joined.stderr[-2000:]  # the same command, with the token: it joins and searches
    assert ": 2 trials (2 trained" in joined.stdout


def _server_answering(*chunks: bytes) -> int:
    """The port of a one-connection server that reads the client's first bytes, then sends ``chunks`` apart."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(1024)
            for chunk in chunks:
                connection.sendall(chunk)
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


SETTINGS = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


@pytest.mark.parametrize(
    ("answer", "is_ray"),
    [
        ((SETTINGS,), True),
        ((SETTINGS[:2], SETTINGS[2:]), True),  # a frame header in two reads
        ((b"\x15\x03\x03\x00\x02\x02\x46",), True),  # a TLS alert: a cluster with Ray's TLS on
        ((b"HTTP/1.1 400 Bad Request\r\n\r\n",), False),
        ((b"SSH-2.0-OpenSSH_9.6\r\n",), False),
        ((), False),  # closes without a word
    ],
    ids=["grpc", "grpc-split", "tls", "http1", "ssh", "closed"],
)
def test_the_cluster_probe_accepts_grpc_and_tls_and_refuses_other_servers(answer, is_ray):
    address = f"127.0.0.1:{_server_answering(*answer)}"
    if is_ray:
        preflight.check_cluster(address, timeout=5)
    else:
        with pytest.raises(InputError, match=f"--address {address}: something listens there but it is not a Ray"):
            preflight.check_cluster(address, timeout=5)


def test_a_ray_address_from_the_environment_is_probed_and_named(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_port()}")
    with pytest.raises(InputError, match=r"^RAY_ADDRESS 127\.0\.0\.1:\d+: no Ray cluster answered within 5 s"):
        preflight.check_cluster(None, timeout=5)
    preflight.check_cluster(f"127.0.0.1:{_server_answering(SETTINGS)}", timeout=5)  # --address wins over it
