"""CVE confidence that survives a distribution: backports, package revisions, OS-only banners.

The NVD records are the real ones (fkie-cad snapshot in /work/shared/data/cve/nvd2, the
same files the shipped snapshot carries); the distribution table is the shipped one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utsyn.scan.products import identify_banner
from utsyn.vuln import dpkg
from utsyn.vuln.distros import FORMAT, load_distros
from utsyn.vuln.index import VulnIndex, build_index, load_snapshot, read_manifest, snapshot_dir
from utsyn.vuln.match import Confidence, Match, ObservedProduct, match
from utsyn.vuln.model import FeedError
from utsyn.vuln.nvd import load_nvd_dir

NVD = Path("/work/shared/data/cve/nvd2")
TABLE = snapshot_dir() / str(read_manifest(snapshot_dir())["distros"]["path"])
CORE = ("f5:nginx", "apache:http_server", "openbsd:openssh", "openssl:openssl", "php:php")


@pytest.fixture(scope="module")
def nvd_only() -> VulnIndex:
    """NVD's records alone, with the shipped distribution table: what NVD's configurations
    say, without the vendor feeds that speak first for nginx and Apache."""
    return build_index(
        load_nvd_dir(NVD, date(2026, 10, 7)), distros=load_distros(TABLE, date.today())
    )


@pytest.fixture(scope="module")
def index() -> VulnIndex:
    return load_snapshot()


def _seen(protocol: str, banner: str) -> ObservedProduct:
    [product] = [p for p in identify_banner(protocol, banner) if p.version]
    return ObservedProduct.from_observation(product.to_json())


def _by_id(matches: list[Match]) -> dict[str, Match]:
    return {m.vuln_id: m for m in matches}


# ------------------------------------------------------------------ NVD configurations


def _criteria(cve: str) -> list[tuple[bool, str]]:
    record = json.loads((NVD / f"{cve}.json").read_text())
    return [
        (bool(m["vulnerable"]), str(m["criteria"]))
        for c in record["configurations"]
        for n in c["nodes"]
        for m in n["cpeMatch"]
    ]


def test_an_os_banner_does_not_match_the_programs_nvd_lists_on_it(nvd_only: VulnIndex) -> None:
    """Lab case server.steinmo.test:23: a telnet prompt naming Debian 11. NVD lists
    `debian_linux 11.0` as vulnerable in Tomcat's CVE-2025-24813 (CISA KEV) because Debian's
    Tomcat package was; the OS alone says nothing about Tomcat."""
    listed = _criteria("CVE-2025-24813")
    assert (True, "cpe:2.3:o:debian:debian_linux:11.0:*:*:*:*:*:*:*") in listed
    assert any(v and c.startswith("cpe:2.3:a:apache:tomcat:") for v, c in listed)
    debian = _seen("telnet", "Debian GNU/Linux 11")
    assert debian.cpe == "cpe:2.3:o:debian:debian_linux:11:*:*:*:*:*:*:*"
    assert match(debian, nvd_only) == []
    assert match(_seen("telnet", "Debian GNU/Linux 9"), nvd_only) == []  # Drupal, Exim, PHP
    tomcat = ObservedProduct("tomcat", "9.0.98", vendor="apache")
    assert "CVE-2025-24813" in {m.vuln_id for m in match(tomcat, nvd_only)}


def test_an_and_configuration_needs_the_application(nvd_only: VulnIndex) -> None:
    """CVE-2017-7269: IIS 6.0 (vulnerable) AND Windows Server 2003 (the platform). The
    platform alone matches nothing; the application without it is only potential."""
    listed = _criteria("CVE-2017-7269")
    assert (False, "cpe:2.3:o:microsoft:windows_server_2003:r2:*:*:*:*:*:*:*") in listed
    windows = ObservedProduct(
        "windows_server_2003", "r2", cpe="cpe:2.3:o:microsoft:windows_server_2003:r2:*:*:*:*:*:*:*"
    )
    assert match(windows, nvd_only) == []
    iis = ObservedProduct("internet_information_services", "6.0", vendor="microsoft")
    alone = _by_id(match(iis, nvd_only))["CVE-2017-7269"]
    assert alone.confidence is Confidence.POTENTIAL and "windows_server_2003" in alone.reasons[0]
    on_2003 = ObservedProduct(
        "internet_information_services",
        "6.0",
        vendor="microsoft",
        platforms=("cpe:2.3:o:microsoft:windows_server_2003:r2:*:*:*:*:*:*:*",),
    )
    assert _by_id(match(on_2003, nvd_only))["CVE-2017-7269"].scored


# ------------------------------------------------------------------ package revisions


@pytest.mark.parametrize(
    ("revision", "confirmed", "absent"),
    [
        # deb12u2 fixed Terrapin's neighbours CVE-2023-51385; deb12u3 regreSSHion (DSA-5724-1);
        # deb12u5 CVE-2025-26465; deb12u10 is bookworm's current revision.
        ("2+deb12u1", {"CVE-2023-51385", "CVE-2024-6387", "CVE-2025-26465"}, {"CVE-2023-38408"}),
        ("2+deb12u2", {"CVE-2024-6387", "CVE-2025-26465"}, {"CVE-2023-51385"}),
        ("2+deb12u3", {"CVE-2025-26465"}, {"CVE-2024-6387"}),
        ("2+deb12u10", set(), {"CVE-2024-6387", "CVE-2025-26465", "CVE-2023-51385"}),
    ],
)
def test_a_debian_revision_is_compared_with_the_fix(
    nvd_only: VulnIndex, revision: str, confirmed: set[str], absent: set[str]
) -> None:
    """Lab cases login.uink.test (deb12u2, unpatched for CVE-2024-6387) and
    ssh.fjellheim-hs.test (deb12u10, patched)."""
    ssh = _seen("ssh", f"SSH-2.0-OpenSSH_9.2p1 Debian-{revision}")
    assert (ssh.distro, ssh.revision) == ("Debian", revision)
    found = _by_id(match(ssh, nvd_only))
    assert {i for i, m in found.items() if m.scored} == confirmed
    assert absent.isdisjoint(found)  # the fix is installed: no match at all
    if "CVE-2024-6387" in confirmed:
        assert "1:9.2p1-2+deb12u3 (DSA-5724-1)" in found["CVE-2024-6387"].basis


def test_debian_9_is_judged_by_the_end_of_its_support(nvd_only: VulnIndex) -> None:
    """Lab case www.holmvik.test:22. Debian LTS ended Debian 9 on 2022-06-30 with openssh
    1:7.4p1-10+deb9u7: CVEs published before may be fixed in it (potential); those published
    after are not in it (confirmed), though Freexian's Extended LTS may have fixed them in a
    newer revision (deb9u8: potential)."""
    found = _by_id(match(_seen("ssh", "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7"), nvd_only))
    assert not found["CVE-2018-15473"].scored and not found["CVE-2021-41617"].scored
    assert found["CVE-2023-38408"].scored and found["CVE-2025-26465"].scored
    assert "left its distribution's support on 2022-06-30" in found["CVE-2023-38408"].basis
    extended = match(_seen("ssh", "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u8"), nvd_only)
    assert extended and not any(m.scored for m in extended)


def test_an_ubuntu_php_revision_before_its_usn(index: VulnIndex) -> None:
    """Lab case www.granli.test: PHP 8.1.2-1ubuntu2.14, before USN-7049-1 (1ubuntu2.19)."""
    php = _seen("http", "PHP/8.1.2-1ubuntu2.14")
    found = _by_id(match(php, index))
    assert {i for i, m in found.items() if m.scored} == {"CVE-2024-8925", "CVE-2024-9026"}
    assert not found["CVE-2024-4577"].scored  # in CISA KEV, but Ubuntu may have fixed it
    later = _by_id(match(_seen("http", "PHP/8.1.2-1ubuntu2.20"), index))
    assert "CVE-2024-8925" not in later and not any(m.scored for m in later.values())


# ------------------------------------------------------------------ versions without a hint


def test_debian_12s_nginx_without_a_hint_is_potential(index: VulnIndex) -> None:
    """Lab case wiki.uink.test: `Server: nginx/1.22.1`, Debian 12's nginx, which names no
    distribution; bookworm's package carries the fixes for CVEs in the advisories' ranges."""
    found = match(_seen("http", "nginx/1.22.1"), index)
    assert len(found) >= 19 and not any(m.scored for m in found)
    assert all("Debian 12 (bookworm)" in m.shipped_by for m in found)
    assert "Debian 12 (bookworm)" in found[0].reasons[0]


def test_an_upstream_version_no_distribution_ships_is_proof(index: VulnIndex) -> None:
    """Lab case booking.holmvik.test: Apache 2.4.49, which no distribution release shipped
    (Debian had it in unstable only; bullseye went from 2.4.48 to 2.4.51)."""
    found = _by_id(match(_seen("http", "Apache/2.4.49"), index))
    traversal = found["CVE-2021-41773"]
    assert traversal.scored and traversal.kev is not None and traversal.shipped_by == ()
    assert "no distribution release ships Apache HTTP Server 2.4.49" in traversal.basis
    hinted = _by_id(match(_seen("http", "Apache/2.4.49 (Debian)"), index))
    assert not hinted["CVE-2021-41773"].scored  # a Debian build (unstable): not proof


def test_red_hat_announces_openssh_without_the_portable_suffix(index: VulnIndex) -> None:
    """`SSH-2.0-OpenSSH_7.4` is RHEL 7's openssh-7.4p1 (still under Red Hat's ELS)."""
    found = match(_seen("ssh", "SSH-2.0-OpenSSH_7.4"), index)
    assert found and not any(m.scored for m in found)
    assert found[0].shipped_by == ("RHEL 7",)


def test_a_release_series_is_not_a_release(index: VulnIndex) -> None:
    """`Drupal 7` (Drupal 7's generator tag) names a series: 7.58 is fixed, 7.57 is not."""
    drupal = ObservedProduct.from_observation({"name": "Drupal", "version": "7"})
    found = _by_id(match(drupal, index))
    assert not found["CVE-2018-7600"].scored
    assert "names a release series" in found["CVE-2018-7600"].reasons[0]
    exact = ObservedProduct.from_observation({"name": "Drupal", "version": "7.57"})
    assert _by_id(match(exact, index))["CVE-2018-7600"].scored


# ------------------------------------------------------------------ the table


def test_the_table_cites_a_source_for_every_row() -> None:
    data = json.loads(TABLE.read_text())
    assert data["format"] == FORMAT
    rows = data["releases"] + data["packages"] + data["fixes"]
    assert all(r["source"].startswith("https://") and r["checked"] for r in rows)
    # Debian 12's rows were read from Debian's own data on this machine's kind, not memory.
    debian12 = [r for r in data["packages"] if r["release"] == "debian-12" and r["product"] in CORE]
    assert debian12 and all(r["checked"].startswith(("apt-cache", "changelog")) for r in debian12)


def test_every_release_lists_the_core_products() -> None:
    table = load_distros(TABLE, date.today())
    for product in (*CORE, "postfix:postfix"):
        shipped = {row.release.id for row in table.shipped[product]}
        missing = set(table.releases) - shipped
        # Red Hat has no nginx in RHEL 7 (only EPEL and Software Collections).
        assert missing <= ({"rhel-7"} if product == "f5:nginx" else set()), product
    exim = {row.release.distribution for row in table.shipped["exim:exim"]}
    assert exim == {"debian", "ubuntu"}  # Red Hat ships no Exim (EPEL is not Red Hat's)


def test_a_malformed_table_is_refused(tmp_path: Path) -> None:
    data = json.loads(TABLE.read_text())
    del data["fixes"][0]["fixed"]
    broken = tmp_path / "table.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(FeedError, match="fix row without 'fixed'"):
        load_distros(broken, date.today())


# ------------------------------------------------------------------ dpkg's order

_VERSIONS = [
    "1:9.2p1-2+deb12u1", "1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u10", "1:9.2p1-2", "9.2p1-2",
    "2.4.62-1~deb12u2", "2.4.62-1~deb11u1", "2.4.62-1", "2.4.62", "8.1.2-1ubuntu2.14",
    "8.1.2-1ubuntu2.19", "8.1.2-1ubuntu2.9", "1.0~rc1-1", "1.0-1", "1.0+dfsg-4+deb12u5",
    "5:7.0.15-1~deb12u10", "10.11.19-0+deb12u1", "1:10.11.19-0+deb12u1", "1.0a", "1.0.a",
]  # fmt: skip


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg, the reference, is not installed")
@settings(max_examples=120, deadline=None)
@given(st.sampled_from(_VERSIONS), st.sampled_from(_VERSIONS))
def test_package_versions_order_as_dpkg_orders_them(a: str, b: str) -> None:
    def dpkg_says(op: str) -> bool:
        return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0

    ours = dpkg.compare(a, b)
    assert (ours < 0) == dpkg_says("lt") and (ours == 0) == dpkg_says("eq")
