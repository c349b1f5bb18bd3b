"""What a real server implements to serve lab hosts, and the registry of those that do.

Each implementation lives in its own module (`nginx.py`, `postfix.py`, ...) and is listed
in `SOFTWARE`; the first one that can serve a service serves it. `as_served` is how the
ground truth stays single-sourced: it rewrites a service's spec to what the software really
does (its own banner, its version), and `lab.expected` reads the rewritten manifest.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from utsyn.errors import LabError
from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.real.daemon import Daemon


class RealSoftware(Protocol):
    name: str  # "nginx"
    packages: tuple[str, ...]  # the Debian packages that provide it
    binaries: tuple[str, ...]  # absolute paths that must exist

    def refusal(self, host: Host, service: Service) -> str | None:
        """None when this software can serve the service as the manifest describes it;
        otherwise why not (the service then stays on the Python tier)."""
        ...

    def as_served(self, host: Host, service: Service) -> Service:
        """The service as this software really serves it (banner, version): the spec the
        ground truth of the real tier is computed from."""
        ...

    def daemons(
        self, ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path
    ) -> list[Daemon]:
        """Write the configuration for `served` under `root` and return the processes to
        start (not started yet). Every daemon binds only its hosts' own addresses."""
        ...


@dataclass(frozen=True)
class Assignment:
    host: Host
    service: Service
    software: str | None  # None: the Python tier serves it
    reason: str = ""  # why no real software could (when software is None)


def missing(software: Sequence[RealSoftware]) -> list[str]:
    """The Debian packages to install before the real tier can start."""
    return sorted(
        {p for s in software if not all(Path(b).exists() for b in s.binaries) for p in s.packages}
    )


def require(software: Sequence[RealSoftware]) -> None:
    packages = missing(software)
    if packages:
        raise LabError(
            "the real tier needs Debian packages that are not installed: "
            "apt-get install %(packages)s",
            packages=" ".join(packages),
        )


def which(name: str) -> str:
    """An executable's path, or a LabError naming it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        raise LabError("%(name)s is not installed", name=name)
    return path
