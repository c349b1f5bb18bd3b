"""Matching real observations against the shipped snapshot."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from utsyn.vuln.index import VulnIndex, load_snapshot, snapshot_dir
from utsyn.vuln.match import Confidence, Match, ObservedProduct, match
from utsyn.vuln.model import Feed

# `service.product` values as the scanner emits them for these SSH banners.
OPENSSH_PLAIN = {
    "product": "openssh",
    "vendor": "openbsd",
    "version": "7.4p1",
    "cpe": "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
    "distro_patched": False,
    "distro": None,
    "source": "SSH-2.0-OpenSSH_7.4p1",
}
OPENSSH_DEBIAN = OPENSSH_PLAIN | {
    "distro_patched": True,
    "distro": "Debian",
    "revision": "10+deb9u7",
    "source": "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7",
}
NGINX_XML = snapshot_dir() / "cve" / "nginx_security_advisories.xml"
RETIREJS = snapshot_dir() / "jsvulns" / "retirejs-jsrepository.json"


@pytest.fixture(scope="module")
def index() -> VulnIndex:
    return load_snapshot()


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.strip().split("."))


def _nginx_expected(version: str, windows: bool = False) -> set[str]:
    """A plain reading of the advisories page: in a vulnerable range, not in a good branch
    (`1.20.1+` = 1.20.1 and later 1.20.x; the first good entry = everything above it).
    `windows` selects the nginx/Windows items instead of the others."""
    v = _ints(version)
    expected = set()
    for item in ET.parse(NGINX_XML).getroot().iter("item"):
        spec, good = item.get("vulnerable", ""), item.get("good", "none")
        if "cve" not in item.attrib or spec.startswith("nginx/Windows") != windows:
            continue
        spec = spec.removeprefix("nginx/Windows ")
        ranges = [p.strip().split("-") for p in spec.split(",")]
        hit = spec == "all" or any(_ints(r[0]) <= v <= _ints(r[-1]) for r in ranges)
        floors = [] if good == "none" else [_ints(g.strip().rstrip("+")) for g in good.split(",")]
        fixed = any(v >= f and (f == max(floors) or v[:2] == f[:2]) for f in floors)
        if hit and not fixed:
            expected.add("CVE-" + item.attrib["cve"])
    return expected


def _nginx(version: str) -> ObservedProduct:
    cpe = f"cpe:2.3:a:f5:nginx:{version}:*:*:*:*:*:*:*"
    return ObservedProduct("nginx", version, vendor="f5", cpe=cpe, source=f"nginx/{version}")


def _ids(matches: list[Match], confidence: Confidence | None = None) -> set[str]:
    return {m.vuln_id for m in matches if confidence is None or m.confidence is confidence}


# nginx versions distribution releases ship (the distribution table): Debian 11 and Ubuntu
# 20.04/22.04 ship 1.18.0, RHEL 8 and 9 the 1.20.1 stream, RHEL 9 and 10 a 1.26 stream.
DISTRIBUTION_NGINX = {"1.18.0", "1.20.1", "1.26.2"}


def test_nginx_1_18_0_gets_exactly_the_advisories_as_potential(index: VulnIndex) -> None:
    """Debian 11's and Ubuntu's nginx 1.18.0 carry backported fixes: every advisory is in
    range, none is proof, and the releases that ship it are named."""
    matches = match(_nginx("1.18.0"), index)
    expected = _nginx_expected("1.18.0")
    assert _ids(matches) == expected
    assert all(m.confidence is Confidence.POTENTIAL for m in matches)
    assert {"Debian 11 (bullseye)", "Ubuntu 22.04 LTS (jammy)"} <= set(matches[0].shipped_by)
    assert (
        "backport" in matches[0].reasons[0] and "Ubuntu 20.04 LTS (focal)" in matches[0].reasons[0]
    )
    assert {"CVE-2021-23017", "CVE-2009-4487", "CVE-2022-41741"} <= expected
    assert "CVE-2019-9511" not in expected  # HTTP/2 flood: 1.9.5-1.17.2 only
    resolver = next(m for m in matches if m.vuln_id == "CVE-2021-23017")
    [evidence] = resolver.evidence
    assert evidence.observed == "nginx/1.18.0"
    assert evidence.range.statement == 'vulnerable="0.6.18-1.20.0" good="1.21.0+, 1.20.1+"'
    assert evidence.range.provenance.feed is Feed.NGINX
    assert evidence.range.provenance.file_date == date(2026, 7, 22)
    # NVD's range for the same CVE is not consulted: the vendor speaks for nginx.
    assert resolver.cvss is not None and resolver.cvss.base_score == 7.7


@pytest.mark.parametrize("version", ["1.20.0", "1.20.1", "1.21.0", "1.25.3", "1.26.2", "0.7.65"])
def test_nginx_branch_fixes(index: VulnIndex, version: str) -> None:
    matches = match(_nginx(version), index)
    if version in DISTRIBUTION_NGINX:  # a distribution's package: nothing is proof
        assert _ids(matches, Confidence.CONFIRMED) == set()
        assert _ids(matches) == _nginx_expected(version) | _nginx_expected(version, windows=True)
        return
    assert _ids(matches, Confidence.CONFIRMED) == _nginx_expected(version)
    # Windows-only issues cannot be confirmed from a banner that does not show Windows.
    assert _ids(matches, Confidence.POTENTIAL) == _nginx_expected(version, windows=True)
    assert all("no distribution release" in m.basis for m in matches if m.scored)


def test_plain_openssh_7_4p1_is_debian_9s_version(index: VulnIndex) -> None:
    """`OpenSSH_7.4p1` is Debian 9's version (with DebianBanner off). Debian's support ended
    in 2022, but Freexian's Extended LTS goes on fixing it until 2027: nothing is proof."""
    observed = ObservedProduct.from_observation(OPENSSH_PLAIN)
    matches = {m.vuln_id: m for m in match(observed, index)}
    assert {"CVE-2018-15473", "CVE-2021-41617", "CVE-2023-38408"} <= set(matches)
    assert not any(m.scored for m in matches.values())
    assert "Debian 9 (stretch) ships openssh 7.4p1" in matches["CVE-2023-38408"].reasons[0]
    assert "CVE-2024-6387" not in matches  # < 4.4, 8.5p1, 8.6-9.8, 9.8:- only
    assert "CVE-2016-6210" not in matches  # `*:p2` up to 7.2


def test_debian_openssh_at_the_last_revision_of_an_unsupported_release(index: VulnIndex) -> None:
    """`Debian-10+deb9u7` is the last revision Debian published for Debian 9 (its support
    ended 2022-06-30): CVEs published later were not fixed in it. Earlier ones may be."""
    observed = ObservedProduct.from_observation(OPENSSH_DEBIAN)
    assert observed.distro_patched and observed.revision == "10+deb9u7"
    matches = {m.vuln_id: m for m in match(observed, index)}
    plain = match(ObservedProduct("openssh", "7.4p1", vendor="openbsd"), index)
    assert set(matches) == _ids(plain)
    assert {i for i, m in matches.items() if m.scored} == {
        "CVE-2023-38408", "CVE-2023-51385", "CVE-2025-26465"
    }  # fmt: skip
    assert "backports" in matches["CVE-2018-15473"].reasons[0]
    assert "last package revision 10+deb9u7" in matches["CVE-2023-38408"].basis


@pytest.mark.parametrize(
    ("version", "affected"),
    [("8.5p1", True), ("8.4p1", False), ("9.7p1", True), ("9.8p1", False), ("9.8", True)],
)
def test_openssh_update_field(index: VulnIndex, version: str, affected: bool) -> None:
    """CVE-2024-6387: `8.5:p1` exact, 8.6 <= v < 9.8, and `9.8:-` (OpenBSD's 9.8, not 9.8p1).
    None of these is a version a distribution release ships, so a match is proof."""
    matches = match(ObservedProduct("openssh", version, vendor="openbsd"), index)
    assert ("CVE-2024-6387" in _ids(matches, Confidence.CONFIRMED)) is affected


def test_apache_2_4_49_path_traversal_is_confirmed_and_known_exploited(index: VulnIndex) -> None:
    matches = match(ObservedProduct("http_server", "2.4.49", vendor="apache"), index)
    traversal = next(m for m in matches if m.vuln_id == "CVE-2021-41773")
    assert traversal.confidence is Confidence.CONFIRMED
    assert traversal.kev is not None and traversal.kev.date_added == date(2021, 11, 3)
    assert traversal.epss is not None and traversal.epss.probability > 0.9
    assert traversal.cvss is not None and traversal.cvss.computed
    assert traversal.cvss.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert "CVE-2021-41773" not in _ids(match(ObservedProduct("apache", "2.4.29"), index))


def test_apache_windows_only_issue_is_potential_without_platform(index: VulnIndex) -> None:
    matches = {m.vuln_id: m for m in match(ObservedProduct("apache", "2.4.49"), index)}
    assert matches["CVE-2022-28330"].confidence is Confidence.POTENTIAL
    windows = ObservedProduct(
        "apache",
        "2.4.49",
        platforms=("cpe:2.3:o:microsoft:windows_server_2019:-:*:*:*:*:*:*:*",),
    )
    on_windows = {m.vuln_id: m for m in match(windows, index)}
    assert on_windows["CVE-2022-28330"].confidence is Confidence.CONFIRMED


def test_jquery_1_12_4_gets_the_retirejs_entries(index: VulnIndex) -> None:
    library = json.loads(RETIREJS.read_text())["jquery"]["vulnerabilities"]
    v = (1, 12, 4)
    expected_cves = set()
    entries = 0
    for entry in library:
        low = _ints(entry.get("atOrAbove", "0").split("-")[0].replace("b1", ""))
        high = _ints(entry["below"].split("-")[0].replace("b1", ""))
        if low <= v < high:
            entries += 1
            expected_cves |= set(entry["identifiers"].get("CVE", []))
    matches = match(
        ObservedProduct.from_observation({"name": "jQuery", "version": "1.12.4"}), index
    )
    assert {i for i in _ids(matches) if i.startswith("CVE-")} == expected_cves
    assert {"CVE-2020-11022", "CVE-2020-11023", "CVE-2019-11358"} <= expected_cves
    assert len(matches) == len(expected_cves) + 2  # two advisories without a CVE
    assert "CVE-2020-23064" not in _ids(matches)  # NVD: 2.2.0 <= v < 3.5.0


def test_exchange_cumulative_updates(index: VulnIndex) -> None:
    cu8 = "cpe:2.3:a:microsoft:exchange_server:2019:cumulative_update_8:*:*:*:*:*:*"
    found = match(ObservedProduct("exchange_server", "2019", "microsoft", cu8), index)
    assert {"CVE-2021-26855", "CVE-2021-34473"} <= _ids(found, Confidence.CONFIRMED)
    assert "CVE-2022-41082" not in _ids(found)  # CU11 and later
    unknown = "cpe:2.3:a:microsoft:exchange_server:2019:*:*:*:*:*:*:*"
    vague = match(ObservedProduct("exchange_server", "2019", "microsoft", unknown), index)
    assert vague and all(m.confidence is Confidence.POTENTIAL for m in vague)


def test_citrix_builds(index: VulnIndex) -> None:
    def found(build: str) -> set[str]:
        cpe = f"cpe:2.3:a:citrix:netscaler_application_delivery_controller:{build}:*:*:*:*:*:*:*"
        return _ids(match(ObservedProduct("NetScaler ADC", build, cpe=cpe), index))

    assert "CVE-2023-4966" in found("13.1-49.13")  # fixed in 13.1-49.15
    assert "CVE-2023-4966" not in found("13.1-49.15")
    assert "CVE-2023-3466" not in found("13.1-49.13")  # the CNA's "13.1, lessThan 49.13"


def test_php_exim_and_unknown_products(index: VulnIndex) -> None:
    # PHP 7.3: Debian 10 and RHEL 8's php:7.3 stream shipped 7.3 releases with backports.
    php = match(ObservedProduct("php", "7.3.10", vendor="php"), index)
    assert "CVE-2019-11043" in _ids(php, Confidence.POTENTIAL)  # 7.3.0 <= v < 7.3.11
    assert "CVE-2019-11043" not in _ids(match(ObservedProduct("php", "7.4.3", "php"), index))
    exim = {m.vuln_id: m for m in match(ObservedProduct("exim", "4.92", vendor="exim"), index)}
    assert "CVE-2019-10149" not in exim  # 4.87-4.91
    # Debian 10's Exim 4.92: Debian fixed it until 2024-06-30, Freexian's ELTS after that.
    assert exim["CVE-2020-28017"].confidence is Confidence.POTENTIAL  # < 4.94.1, 2021
    assert exim["CVE-2024-39929"].confidence is Confidence.POTENTIAL  # published 2024-07-04
    upstream = match(ObservedProduct("exim", "4.94", vendor="exim"), index)
    assert "CVE-2020-28017" in _ids(upstream, Confidence.CONFIRMED)  # no release has 4.94
    assert match(ObservedProduct("postfix", "3.4.14", vendor="postfix"), index) == []
    assert match(ObservedProduct("nginx", None), index) == []
