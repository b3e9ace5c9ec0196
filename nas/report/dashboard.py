"""``nas dashboard STUDY_FOLDER``: optuna-dashboard on the study's storage, for watching a search live.

``nas report`` leaves its key plots and verdict in ``report/dashboard/`` without touching the storage; the
dashboard saves them into the study (Plots and Note) when it starts, and ``nas report --to-dashboard`` does
so at once for a dashboard already running. Both repair a journal cut short before writing to it.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket

import optuna_dashboard
import plotly.graph_objects as go
import plotly.io

from nas.errors import InputError
from nas.files import write_atomically
from nas.study.folder import StudyFolder
from nas.study.storage import load_for_writing

logger = logging.getLogger(__name__)

NOTE = "note.md"


def shown_plots(main_cost: str) -> tuple[str, ...]:
    """The report's plots the dashboard shows: the front over the study's main cost, the placement effects and the
    hypervolume."""
    return (f"pareto-{main_cost}", "placement-effects", "hypervolume")


def save_report(folder: StudyFolder, plots: dict[str, go.Figure], note: str, main_cost: str) -> None:
    """Leaves the report's shown plots (``shown_plots``) and its note in ``folder.dashboard_files``, replacing older
    ones."""
    target = folder.dashboard_files
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.json"):
        old.unlink()
    for name in shown_plots(main_cost):
        if name in plots:
            write_atomically(target / f"{name}.json", plots[name].to_json())
    write_atomically(target / NOTE, note)


def push_report(folder: StudyFolder) -> bool:
    """Saves the latest report's plots and note into the study for optuna-dashboard; False when there is none.

    Raises:
        StudyError: the folder holds no study.
    """
    source = folder.dashboard_files
    if not (source / NOTE).is_file():
        return False
    study, _ = load_for_writing(folder)
    for plot in sorted(source.glob("*.json")):
        optuna_dashboard.save_plotly_graph_object(study, plotly.io.read_json(plot), graph_object_id=plot.stem)
    optuna_dashboard.save_note(study, (source / NOTE).read_text())
    return True


def _check_address(host: str, port: int) -> None:
    """Raises InputError when ``port`` on ``host`` cannot be served (taken, or the host is not this machine's)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as error:
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
        raise InputError(f"--host {host} --port {port}: the address {reason}; pick another --port") from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(folder: StudyFolder, host: str, port: int) -> None:
    """Serves the study until interrupted, with the latest report's plots and note saved into it first.

    Raises:
        StudyError: the folder holds no study.
        InputError: the port is in use or the host is not an address of this machine.
    """
    _check_address(host, port)
    source, storage = load_for_writing(folder)  # the dashboard writes notes into the study too
    if not _is_loopback(host):
        logger.warning(
            "bound to %s: anyone who can reach this machine on port %d can read the study and write notes into it; "
            "use the default --host 127.0.0.1 with an SSH tunnel instead",
            host,
            port,
        )
    if not push_report(folder):
        logger.info("no report yet; run `nas report --to-dashboard %s` to add its plots", folder.root)
    print(f"optuna-dashboard for study {source.study_name!r}: http://{host}:{port}/", flush=True)
    optuna_dashboard.run_server(storage, host=host, port=port)
