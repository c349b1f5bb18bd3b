"""Extra loopback addresses on `lo`, for daemons that bind only configured addresses.

Linux routes all of 127.0.0.0/8 to `lo`, so most servers bind 127.20.0.3 without further
ado; BIND's named does not: it binds each interface address that its `listen-on` matches,
and `lo` carries only 127.0.0.1. The address is added for as long as the daemon runs and
removed after it, labelled `lo:utsyn` so that one left by a lab that was killed is known
as ours (and taken over, then removed) while one that someone else added is never touched.
Changing `lo` needs CAP_NET_ADMIN: the lab runs as root to bind port 53 anyway.
"""

from __future__ import annotations

import json
import subprocess

from utsyn.errors import LabError
from utsyn.lab.real.software import which

LABEL = "lo:utsyn"  # an address label is the device name, a colon and at most 15 bytes in all


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [which("ip"), *args], capture_output=True, text=True, timeout=10, check=False
    )


def _addresses() -> list[tuple[str, str]]:
    """(address, label) of every IPv4 address with a /32 prefix on lo."""
    shown = _ip("-j", "-4", "addr", "show", "dev", "lo")
    try:
        interfaces = json.loads(shown.stdout or "[]")
    except ValueError as exc:
        raise LabError(
            "cannot read lo's addresses: %(reason)s", reason=shown.stderr.strip()
        ) from exc
    return [
        (info["local"], info.get("label", "lo"))
        for interface in interfaces
        for info in interface.get("addr_info", [])
        if info.get("prefixlen") == 32
    ]


def _labels(address: str) -> list[str]:
    """The labels `address/32` has on lo (none when it is not there)."""
    return [label for local, label in _addresses() if local == address]


def add(address: str) -> bool:
    """Make `address` an address of lo; True when it is ours to remove later."""
    if ":" in address:
        return False  # ::1 is lo's own
    labels = _labels(address)
    if labels:
        return LABEL in labels  # ours from a lab that was killed, or someone else's
    done = _ip("addr", "add", f"{address}/32", "dev", "lo", "label", LABEL)
    if done.returncode != 0:
        raise LabError(
            "cannot add %(address)s to lo: %(reason)s (the lab needs root)",
            address=address,
            reason=done.stderr.strip(),
        )
    return True


def remove(address: str) -> None:
    if LABEL not in _labels(address):
        return
    done = _ip("addr", "del", f"{address}/32", "dev", "lo", "label", LABEL)
    if done.returncode != 0:
        raise LabError(
            "cannot remove %(address)s from lo: %(reason)s",
            address=address,
            reason=done.stderr.strip(),
        )


def ours() -> list[str]:
    """Every address on lo with our label: what a lab that stopped must not leave behind."""
    return [local for local, label in _addresses() if label == LABEL]
