"""`utsyn scan` refuses bad input with a clear, translated error and exit 2, never a
traceback: a binary targets file, a directory, a resolver that is not an address."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

UTSYN = Path(sys.executable).parent / "utsyn"


def _scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UTSYN), "scan", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_binary_targets_file_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "targets.txt"
    binary.write_bytes(b"example.test\n\xff\xfe\x00\x81")
    done = _scan("--targets", str(binary), "--resolver", "127.0.0.1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "målfilen er ikke UTF-8-tekst (byte 13)" in done.stderr


def test_a_directory_as_targets_file_is_refused(tmp_path: Path) -> None:
    done = _scan("--targets", str(tmp_path), "--resolver", "127.0.0.1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{tmp_path}: kan ikke lese målfilen (det er en mappe)" in " ".join(done.stderr.split())


def test_a_missing_targets_file_is_named(tmp_path: Path) -> None:
    done = _scan("--targets", str(tmp_path / "nope.txt"), "--resolver", "127.0.0.1", "--lang", "en")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no such file or directory" in done.stderr


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_a_resolver_that_is_not_an_address_is_refused(lang: str) -> None:
    done = _scan("example.test", "--resolver", "not-an-ip", "--lang", lang)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    wanted = {"nb": "er ikke en IP-adresse", "en": "is not an IP address"}[lang]
    assert "'not-an-ip'" in done.stderr and wanted in done.stderr
