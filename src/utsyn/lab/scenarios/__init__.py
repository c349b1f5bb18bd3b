"""Scenario manifests shipped with Utsyn, found by name (`demo`) or given as a file path."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from utsyn.errors import ManifestError
from utsyn.lab.manifest import Manifest, load_manifest

_SUFFIX = ".yaml"


def known_scenarios() -> list[str]:
    """Names of the scenarios shipped in this package, sorted."""
    return sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in files(__name__).iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def scenario_path(name: str) -> Path:
    """The file of a shipped scenario; a `ManifestError` lists the known names otherwise."""
    if name not in known_scenarios():
        known = ", ".join(known_scenarios()) or "(none)"
        raise ManifestError(
            "unknown scenario %(name)r; known scenarios: %(known)s", name=name, known=known
        )
    # Utsyn is installed as plain files (wheel or editable), never run from a zip, so the
    # resource is a real file the lab and its child processes can reopen by path.
    return Path(str(files(__name__).joinpath(name + _SUFFIX)))


def load_scenario(name_or_path: str) -> Manifest:
    """A shipped scenario by name, or a manifest file when the argument looks like a path.

    Anything with a path separator or a .yaml/.yml suffix is a path, so a file that happens
    to be called `demo` in the working directory never shadows the shipped scenario.
    """
    if _looks_like_path(name_or_path):
        return load_manifest(Path(name_or_path))
    return load_manifest(scenario_path(name_or_path))


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value or value.endswith((".yaml", ".yml"))
