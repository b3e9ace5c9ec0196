"""The environment of a Ray that a command starts on this machine: listening on loopback only, token authentication.

Ray reads both settings from environment variables when it is imported, and the processes it starts inherit them,
so they must be set before a command's first ``import ray``. This module imports no Ray for that reason. Joining a
cluster (``--address HOST:PORT`` or ``auto``) leaves the environment as the user set it: the cluster decides.

One setting is for the command's own process alone, whatever the cluster (``DRIVER_ENVIRONMENT``, ``importing_ray``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

LOCAL = "local"  # Ray's address for a new Ray on this machine
LOCAL_RAY_ENVIRONMENT = {
    # Ray's switch for clusters of several machines (documented for Windows and macOS, where it is off by
    # default). Off, Ray takes the loopback address as this node's: GCS, raylet, agents and workers listen on
    # loopback only. On, they listen on every interface, reachable from the network.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # Token authentication, which Ray turns on for a new local Ray anyway; when the mode is named in the
    # environment, Ray does not print a notice about it on every start.
    "RAY_AUTH_MODE": "token",
}
DRIVER_ENVIRONMENT = {
    # Ray's C++ failure handler (stack dumps on crashes) would take SIGTERM over while ``ray.init`` connects and
    # abort there with a stack dump; without it a SIGTERM while Ray starts stops the command as cleanly as at any
    # other time. Ray reads it once, on import; the processes it starts keep their handler.
    "RAY_DISABLE_FAILURE_SIGNAL_HANDLER": "1",
}


def ray_address(address: str | None) -> str:
    """The address a command gives ``ray.init``: ``--address``; else ``RAY_ADDRESS`` (set for a Ray job, whose
    cluster it joins); else a new Ray here. Not Ray's own default, which joins the last cluster ``ray start``
    recorded on this machine, and retries for many minutes when that cluster is gone but its record is not."""
    return address or os.environ.get("RAY_ADDRESS") or LOCAL


def prepare(address: str | None) -> None:
    """Sets the local-Ray environment when ``address`` starts Ray on this machine, keeping any of those
    variables the user set. Does nothing once Ray is imported: Ray would keep the values it read then, and a
    changed authentication mode would lock this process out of the Ray it starts."""
    if ray_address(address) != LOCAL or "ray" in sys.modules:
        return
    for name, value in LOCAL_RAY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def importing_ray() -> Iterator[None]:
    """Within the block, which imports Ray: ``DRIVER_ENVIRONMENT`` set (a variable the user set is kept as it is),
    and afterwards taken out again, so that no process Ray starts inherits it."""
    added = {name: value for name, value in DRIVER_ENVIRONMENT.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
