"""Production runs the newest releases Utsyn allows: a cap only a test tool needs (sslyze,
checkdmarc) belongs to the test extra, never to the runtime dependencies."""

from __future__ import annotations

import tomllib
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"
TEST_TOOLS = ("sslyze", "checkdmarc")
UPPER = ("<", "<=", "==", "~=", "===")


def _project() -> dict[str, list[Requirement]]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return {
        "runtime": [Requirement(r) for r in project["dependencies"]],
        "test": [Requirement(r) for r in project["optional-dependencies"]["test"]],
    }


def _capped(requirement: Requirement) -> bool:
    return any(spec.operator in UPPER for spec in requirement.specifier)


def test_runtime_dependencies_carry_no_test_tool_caps() -> None:
    runtime = {canonicalize_name(r.name): r for r in _project()["runtime"]}
    capped_by_tools = {
        canonicalize_name(needed.name)
        for tool in TEST_TOOLS
        for needed in map(Requirement, requires(tool) or [])
        if needed.marker is None and _capped(needed)
    }
    assert "cryptography" in capped_by_tools  # what sslyze 6.3 needs today
    shared = capped_by_tools & runtime.keys()
    assert shared, "the test tools cap none of Utsyn's own dependencies any more"
    assert {name for name in shared if _capped(runtime[name])} == set()


def test_the_test_extra_holds_the_caps() -> None:
    test = {canonicalize_name(r.name): r for r in _project()["test"]}
    assert _capped(test["cryptography"]) and _capped(test["dnspython"])


def test_dnssec_brings_its_cryptography_at_runtime() -> None:
    """dnspython validates DNSSEC with cryptography, at the version its `dnssec` extra
    names (2.9 needs a newer one than 2.8): Utsyn asks for that extra."""
    runtime = {canonicalize_name(r.name): r for r in _project()["runtime"]}
    assert "dnssec" in runtime["dnspython"].extras
