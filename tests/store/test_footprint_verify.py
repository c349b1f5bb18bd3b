"""`utsyn footprint verify`: proof of control with a DNS TXT record, end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from utsyn.lab.manifest import parse_manifest
from utsyn.lab.runtime import running_lab
from utsyn.settings import get_settings

MANIFEST = """
    name: verify
    organisations:
      - slug: provestad
        name: Prøvestad kommune
        orgnr: "974760673"
        sector: municipality
        county: "46"
        municipality: "4601"
        domains:
          - name: provestad.test
            records: RECORDS
"""


def _lab(tmp: Path, records: list[dict[str, str]]):  # type: ignore[no-untyped-def]
    text = textwrap.dedent(MANIFEST).replace(
        "RECORDS", yaml.safe_dump(records, default_flow_style=True).strip()
    )
    manifest = parse_manifest(yaml.safe_load(text))
    return running_lab(
        manifest, tmp, get_settings().cache_dir, dns_ip="127.58.0.1", dns_port=10053,
        first_octet=160,
    )  # fmt: skip


def test_verify_issues_a_token_then_accepts_the_published_record(tmp_path: Path) -> None:
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}

    def utsyn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "utsyn", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    orgs = tmp_path / "orgs.csv"
    orgs.write_text(
        "orgnr,name,sector,county,municipality,domains\n"
        "974760673,Prøvestad kommune,municipal,46,4601,provestad.test\n",
        "utf-8",
    )
    assert utsyn("orgs", "import", str(orgs)).returncode == 0
    args = ("footprint", "verify", "--org", "974760673", "provestad.test",
            "--resolver", "127.58.0.1", "--resolver-port", "10053", "--lang", "en")  # fmt: skip
    with _lab(tmp_path / "lab1", []):
        first = utsyn(*args)
    assert first.returncode == 1, first.stderr
    token = re.search(r'"utsyn-verify=([^"]+)"', first.stdout)
    assert token is not None and "_utsyn-verify.provestad.test" in first.stdout
    record = {"name": "_utsyn-verify", "type": "TXT", "value": f"utsyn-verify={token.group(1)}"}
    wrong = {**record, "value": "utsyn-verify=someone-elses-token"}
    with _lab(tmp_path / "lab2", [wrong]):
        assert utsyn(*args).returncode == 1
    with _lab(tmp_path / "lab3", [record]):
        second = utsyn(*args)
    assert second.returncode == 0 and "verified" in second.stdout
    listed = utsyn("footprint", "list", "--org", "974760673", "--lang", "en")
    assert re.search(r"provestad\.test\s+│\s+verified", listed.stdout)
