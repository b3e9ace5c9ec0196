"""Checks ``nas search`` makes before it creates or changes anything: the results folder and the Ray cluster.

A Ray driver given an address nothing answers at, or where a server of another kind answers, retries for minutes
(or for ever) without a word; the address is probed first, for at most ``CLUSTER_TIMEOUT_S``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from nas.errors import InputError

CLUSTER_TIMEOUT_S = 30.0  # how long `--address` may take to answer before the search gives up
LOCAL_ADDRESSES = ("auto", "local")  # Ray's own words for a cluster found or started on this machine

# A client's HTTP/2 connection preface followed by an empty SETTINGS frame (length 0, type 4, no flags, stream 0)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
FRAME_HEADER_BYTES = 9  # length (3), type (1), flags (1), stream (4)
FRAME_TYPE_BYTE = 3
SETTINGS_FRAME = 4


def check_results(results: Path, study: Path) -> None:
    """Raises InputError when the study folder, the results folder or the nearest existing folder above them
    is a file (neither could be made)."""
    nearest = next(path for path in (study, results, *results.parents) if path.exists())
    if not nearest.is_dir():
        raise InputError(f"--results {results}: {nearest} is a file, not a folder; pass a folder (default results/)")


def check_cluster(address: str | None, timeout: float = CLUSTER_TIMEOUT_S) -> None:
    """Raises InputError unless a gRPC server, as Ray's GCS and Ray Client server are, answers at the Ray cluster
    address ``address`` within ``timeout``.

    ``HOST:PORT`` and ``ray://HOST:PORT`` are probed; ``auto``, ``local`` and no address are left to Ray.
    """
    if address is None or address in LOCAL_ADDRESSES:
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--address {address}: expected HOST:PORT of a Ray head node (ray start --head prints it)")
    try:
        connection = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except OSError as error:
        raise InputError(
            f"--address {address}: no Ray cluster answered within {timeout:g} s ({error}); check the address "
            "`ray start --head` printed and that the head node is running, or leave --address out to run Ray "
            "on this machine"
        ) from None
    with connection:
        if not _answers_http2(connection):
            raise InputError(
                f"--address {address}: something listens there but it is not a Ray cluster (it did not answer as "
                f"a gRPC server within {timeout:g} s); give the address `ray start --head` printed (its GCS port: "
                "6379 unless --port chose another)"
            )


def _answers_http2(connection: socket.socket) -> bool:
    """Whether the server at ``connection`` answers HTTP/2's connection preface with a SETTINGS frame, as every
    gRPC server does (RFC 9113, section 3.4); a server that speaks another protocol, or nothing, does not."""
    try:
        connection.sendall(HTTP2_PREFACE)
        header = b""
        while len(header) < FRAME_HEADER_BYTES:
            chunk = connection.recv(FRAME_HEADER_BYTES - len(header))
            if not chunk:
                return False
            header += chunk
    except OSError:  # a reset, or no answer within the connection's timeout
        return False
    return header[FRAME_TYPE_BYTE] == SETTINGS_FRAME
