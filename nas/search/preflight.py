"""Checks ``nas search`` makes before it creates or changes anything: the results folder and the Ray cluster.

A Ray driver given an address nothing answers at, or where a server of another kind answers, retries for minutes
(or for ever) without a word; the address is probed first, for at most ``CLUSTER_TIMEOUT_S``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from nas.errors import InputError
from nas.search import local_ray

CLUSTER_TIMEOUT_S = 30.0  # how long `--address` may take to answer before the search gives up
# A client's HTTP/2 connection preface followed by an empty SETTINGS frame (length 0, type 4, no flags, stream 0)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
FRAME_HEADER_BYTES = 9  # length (3), type (1), flags (1), stream (4)
FRAME_TYPE_BYTE = 3
SETTINGS_FRAME = 4
TLS_RECORD_TYPES = (0x15, 0x16)  # the first byte of a TLS alert or handshake record


def check_results(results: Path, study: Path) -> None:
    """Raises InputError when the study folder, the results folder or the nearest existing folder above them
    is a file (neither could be made)."""
    nearest = next(path for path in (study, results, *results.parents) if path.exists())
    if not nearest.is_dir():
        raise InputError(f"--results {results}: {nearest} is a file, not a folder; pass a folder (default results/)")


def check_cluster(address: str | None, timeout: float = CLUSTER_TIMEOUT_S) -> None:
    """Raises InputError unless a gRPC server, as Ray's GCS and Ray Client server are, answers at the Ray cluster
    address the command will join (``address``, else ``RAY_ADDRESS``) within ``timeout``.

    ``HOST:PORT`` and ``ray://HOST:PORT`` are probed; a new Ray here and ``auto`` are left to Ray.
    """
    target = local_ray.ray_address(address)
    if target in (local_ray.LOCAL, "auto"):
        return
    named = f"--address {target}" if address else f"RAY_ADDRESS {target}"
    host, _, port = target.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{named}: expected HOST:PORT of a Ray head node (ray start --head prints it)")
    try:
        connection = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except OSError as error:
        raise InputError(
            f"{named}: no Ray cluster answered within {timeout:g} s ({error}); check the address "
            "`ray start --head` printed and that the head node is running, or leave --address out to run Ray "
            "on this machine"
        ) from None
    with connection:
        if not _answers_http2(connection):
            raise InputError(
                f"{named}: something listens there but it is not a Ray cluster (it did not answer as a gRPC "
                f"server does, within {timeout:g} s); give the address `ray start --head` printed (its GCS port: "
                "6379 unless --port chose another)"
            )


def _answers_http2(connection: socket.socket) -> bool:
    """Whether the server at ``connection`` answers HTTP/2's connection preface with a SETTINGS frame, as every
    gRPC server does (RFC 9113, section 3.4), or with TLS; a server that speaks another protocol, or nothing, does
    not."""
    try:
        connection.sendall(HTTP2_PREFACE)
        header = connection.recv(FRAME_HEADER_BYTES)
        if header[:1] and header[0] in TLS_RECORD_TYPES:
            return True  # a TLS record (alert or handshake): Ray's TLS is on, and Ray itself will connect
        while 0 < len(header) < FRAME_HEADER_BYTES:
            chunk = connection.recv(FRAME_HEADER_BYTES - len(header))
            if not chunk:
                return False
            header += chunk
    except OSError:  # a reset, or no answer within the connection's timeout
        return False
    return len(header) == FRAME_HEADER_BYTES and header[FRAME_TYPE_BYTE] == SETTINGS_FRAME
