"""Checks ``nas search`` makes before it creates or changes anything: the results folder and the Ray cluster.

A Ray driver given an address nothing answers at retries for minutes without a word; the address is probed
first, for at most ``CLUSTER_TIMEOUT_S``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from nas.errors import InputError

CLUSTER_TIMEOUT_S = 30.0  # how long `--address` may take to answer before the search gives up
LOCAL_ADDRESSES = ("auto", "local")  # Ray's own words for a cluster found or started on this machine


def check_results(results: Path, study: Path) -> None:
    """Raises InputError when the results folder or the study folder inside it is a file."""
    for path in (results, study):
        if path.exists() and not path.is_dir():
            raise InputError(f"--results {results}: {path} is a file, not a folder; pass a folder (default results/)")


def check_cluster(address: str | None, timeout: float = CLUSTER_TIMEOUT_S) -> None:
    """Raises InputError unless something answers at the Ray cluster address ``address`` within ``timeout``.

    ``HOST:PORT`` and ``ray://HOST:PORT`` are probed with a TCP connection; ``auto``, ``local`` and no address
    are left to Ray.
    """
    if address is None or address in LOCAL_ADDRESSES:
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--address {address}: expected HOST:PORT of a Ray head node (ray start --head prints it)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise InputError(
            f"--address {address}: no Ray cluster answered within {timeout:g} s ({error}); check the address "
            "`ray start --head` printed and that the head node is running, or leave --address out to run Ray "
            "on this machine"
        ) from None
