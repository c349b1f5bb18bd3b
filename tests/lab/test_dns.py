"""The lab's name servers, queried with real dnspython clients over loopback sockets.

Every server here listens on its own address in 127.102.0.0/16 (this module's range).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.xfr
import dns.zone
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from dns.dnssecalgs.ecdsa import PublicECDSAP256SHA256
from dns.rdtypes.ANY.RRSIG import RRSIG

from utsyn.errors import ManifestError
from utsyn.lab.context import LabContext, address_plan
from utsyn.lab.dns.servers import (
    LabDns,
    open_resolver_addresses,
    start_name_server,
    start_open_resolver,
)
from utsyn.lab.manifest import parse_manifest
from utsyn.lab.zones import build_zones

PORT = 10053  # not 53, so the tests need no privileges
RdataType = dns.rdatatype.RdataType
IN = dns.rdataclass.IN
_addresses = itertools.count(1)


def fresh_ip() -> str:
    """A new address per server; the third octet keeps concurrent test runs apart."""
    return f"127.102.{os.getpid() % 250}.{next(_addresses) % 250 + 1}"


def org(**fields: Any) -> dict[str, Any]:
    base = {
        "slug": "fjordvik",
        "name": "Fjordvik kommune",
        "orgnr": "974760673",
        "sector": "municipality",
        "county": "46",
        "municipality": "4601",
    }
    return base | fields


FJORDVIK = org(
    domains=[
        {
            "name": "fjordvik.test",
            "mx": ["mx1.fjordvik.test", "mx2.fjordvik.test"],
            "spf": ["v=spf1 mx -all", "v=spf1 include:_spf.fjordvik.test ~all"],
            "dmarc": "v=DMARC1; p=reject; rua=mailto:dmarc@fjordvik.test",
            "dkim": {"s1024": 1024, "s2048": 2048},
            "mta_sts": {"mode": "enforce"},
            "tls_rpt": "v=TLSRPTv1; rua=mailto:tlsrpt@fjordvik.test",
            "caa": ['0 issue "buypass.com"'],
            "dnssec": "signed",
            "zone_transfer": True,
            "records": [
                {"name": "gammel", "type": "CNAME", "value": "borte.fjordvik.test."},
                {"name": "app", "type": "CNAME", "value": "fjordvik-app.azurewebsites.net."},
                {"name": "portal", "type": "CNAME", "value": "www"},
                {"name": "stor", "type": "TXT", "value": "a" * 300},
                {"name": "kjempe", "type": "TXT", "value": "b" * 900},  # > 512, < 1232 bytes
                {"name": "*.kunde", "type": "TXT", "value": "wild"},
                {"name": "_sip._tcp", "type": "SRV", "value": "10 5 5060 www"},
                {"name": "utleid", "type": "NS", "value": "ns.utleid"},
                {"name": "ns.utleid", "type": "A", "value": "127.9.9.9"},  # glue
            ],
        },
        {"name": "brokk.test", "dnssec": "broken"},
        {"name": "aapen.test", "zone_transfer": False},
    ],
    hosts=[
        {"name": "www.fjordvik.test", "aliases": ["fjordvik.test"], "ipv6": True},
        {"name": "mx1.fjordvik.test"},
        {"name": "skjult.fjordvik.test", "ptr": False},
        {"name": "www.brokk.test"},
        {"name": "legacy.gammel.test"},
    ],
)


def context(state_dir: Path, *orgs: dict[str, Any], dns_ip: str | None = None) -> LabContext:
    manifest = parse_manifest({"name": "dns tests", "organisations": list(orgs)})
    ctx = LabContext(manifest, address_plan(manifest), None, state_dir)  # type: ignore[arg-type]
    if dns_ip is not None:
        ctx.dns_ip = dns_ip
    return ctx


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
async def server(tmp_path: Path, key_dir: Path) -> AsyncIterator[LabDns]:
    ctx = context(tmp_path, FJORDVIK, dns_ip=fresh_ip())
    lab = LabDns(ctx, port=PORT, key_dir=key_dir, idle_timeout=0.5)
    await lab.start()
    yield lab
    await lab.stop()


# ---------------------------------------------------------------- helpers


async def ask(
    ip: str,
    name: str | dns.name.Name,
    rdtype: RdataType | str,
    *,
    tcp: bool = False,
    dnssec: bool = False,
    edns: bool = True,
    recurse: bool = False,
) -> dns.message.Message:
    query = dns.message.make_query(
        name, rdtype, use_edns=0 if edns else False, want_dnssec=dnssec, payload=1232
    )
    if not recurse:
        query.flags &= ~dns.flags.RD
    # The server runs on this event loop: a blocking client must run in a thread.
    if tcp:
        return await asyncio.to_thread(dns.query.tcp, query, ip, timeout=3, port=PORT)
    return await asyncio.to_thread(dns.query.udp, query, ip, timeout=3, port=PORT)


def rrset(message: dns.message.Message, name: str, rdtype: RdataType) -> dns.rrset.RRset:
    return message.find_rrset(message.answer, dns.name.from_text(name), IN, rdtype)


def signatures(message: dns.message.Message, name: str, covered: RdataType) -> dns.rrset.RRset:
    return message.find_rrset(
        message.answer, dns.name.from_text(name), IN, RdataType.RRSIG, covered
    )


def texts(records: dns.rrset.RRset) -> set[str]:
    return {b"".join(rdata.strings).decode() for rdata in records}


def validate(records: dns.rrset.RRset, sigs: dns.rrset.RRset, keys: dns.rrset.RRset) -> None:
    """dns.dnssec.validate where dnspython enables it; with the project's cryptography (<50)
    it does not, so the same checks (RFC 4035 5.3) are made with dnspython's own pieces."""
    if dns.dnssec._have_pyca:
        dns.dnssec.validate(records, sigs, {keys.name: keys})
        return
    for rrsig in sigs:
        assert isinstance(rrsig, RRSIG)
        if rrsig.signer != keys.name or not rrsig.inception <= time.time() <= rrsig.expiration:
            continue
        data = dns.dnssec._make_rrsig_signature_data(records, rrsig)
        for key in keys:
            if dns.dnssec.key_id(key) != rrsig.key_tag or key.algorithm != rrsig.algorithm:
                continue
            try:
                PublicECDSAP256SHA256.from_dnskey(key).verify(rrsig.signature, data)
                return
            except InvalidSignature:
                continue
    raise dns.exception.ValidationFailure("no RRSIG validated")  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------- records


async def test_records_as_the_manifest_says(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    www = await ask(ip, "www.fjordvik.test", "A")
    assert www.flags & dns.flags.AA and not www.flags & dns.flags.RA
    assert {r.address for r in rrset(www, "www.fjordvik.test.", RdataType.A)} == {
        server.ctx.addresses["www.fjordvik.test"]
    }
    apex_aaaa = await ask(ip, "fjordvik.test", "AAAA")  # the alias of the IPv6 host
    assert {r.address for r in rrset(apex_aaaa, "fjordvik.test.", RdataType.AAAA)} == {"::1"}
    mx = await ask(ip, "fjordvik.test", "MX")
    assert sorted((r.preference, str(r.exchange)) for r in mx.answer[0]) == [
        (10, "mx1.fjordvik.test."),
        (20, "mx2.fjordvik.test."),
    ]
    # The MX target the lab serves comes along in the additional section, as BIND adds it.
    assert any(str(r.name) == "mx1.fjordvik.test." for r in mx.additional)
    caa = await ask(ip, "fjordvik.test", "CAA")
    assert caa.answer[0][0].to_text() == '0 issue "buypass.com"'
    srv = await ask(ip, "_sip._tcp.fjordvik.test", "SRV")
    assert srv.answer[0][0].to_text() == "10 5 5060 www.fjordvik.test."


async def test_two_spf_values_are_two_spf_records(server: LabDns) -> None:
    txt = await ask(server.ctx.dns_ip, "fjordvik.test", "TXT")
    spf = {t for t in texts(txt.answer[0]) if t.startswith("v=spf1")}
    assert spf == {"v=spf1 mx -all", "v=spf1 include:_spf.fjordvik.test ~all"}


async def test_mail_policy_records(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    dmarc = await ask(ip, "_dmarc.fjordvik.test", "TXT")
    assert texts(dmarc.answer[0]) == {"v=DMARC1; p=reject; rua=mailto:dmarc@fjordvik.test"}
    sts = await ask(ip, "_mta-sts.fjordvik.test", "TXT")
    (sts_text,) = texts(sts.answer[0])
    assert sts_text.startswith("v=STSv1; id=") and len(sts_text) > len("v=STSv1; id=")
    rpt = await ask(ip, "_smtp._tls.fjordvik.test", "TXT")
    assert texts(rpt.answer[0]) == {"v=TLSRPTv1; rua=mailto:tlsrpt@fjordvik.test"}


@pytest.mark.parametrize("selector, bits", [("s1024", 1024), ("s2048", 2048)])
async def test_dkim_keys_have_the_manifest_sizes(server: LabDns, selector: str, bits: int) -> None:
    answer = await ask(server.ctx.dns_ip, f"{selector}._domainkey.fjordvik.test", "TXT", tcp=True)
    (rdata,) = answer.answer[0]
    assert all(len(part) <= 255 for part in rdata.strings)
    value = b"".join(rdata.strings).decode()
    assert value.startswith("v=DKIM1; k=rsa; p=")
    key = load_der_public_key(base64.b64decode(value.split("p=", 1)[1]))
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == bits


async def test_long_txt_is_split_into_255_byte_strings(server: LabDns) -> None:
    answer = await ask(server.ctx.dns_ip, "stor.fjordvik.test", "TXT")
    (rdata,) = answer.answer[0]
    assert [len(part) for part in rdata.strings] == [255, 45]
    assert b"".join(rdata.strings) == b"a" * 300


async def test_ptr_records_only_where_the_manifest_wants_them(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    addresses = server.ctx.addresses
    www = await ask(ip, dns.reversename.from_address(addresses["mx1.fjordvik.test"]), "PTR")
    assert [str(r.target) for r in www.answer[0]] == ["mx1.fjordvik.test."]
    hidden = await ask(ip, dns.reversename.from_address(addresses["skjult.fjordvik.test"]), "PTR")
    assert hidden.rcode() == dns.rcode.NXDOMAIN


async def test_hosts_outside_every_domain_live_in_the_test_zone(server: LabDns) -> None:
    answer = await ask(server.ctx.dns_ip, "legacy.gammel.test", "A")
    assert answer.answer[0][0].address == server.ctx.addresses["legacy.gammel.test"]
    assert answer.flags & dns.flags.AA


# ---------------------------------------------------------------- negative answers


async def test_nxdomain_and_nodata_carry_the_soa(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    missing = await ask(ip, "finnes-ikke.fjordvik.test", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN and not missing.answer
    assert missing.authority[0].rdtype == RdataType.SOA
    assert str(missing.authority[0].name) == "fjordvik.test."
    nodata = await ask(ip, "mx1.fjordvik.test", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == RdataType.SOA
    # `_domainkey` has no records of its own but names below it: an empty non-terminal.
    empty = await ask(ip, "_domainkey.fjordvik.test", "TXT")
    assert empty.rcode() == dns.rcode.NOERROR and not empty.answer


async def test_cname_chains_and_dangling_cnames(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    portal = await ask(ip, "portal.fjordvik.test", "A")
    assert [r.rdtype for r in portal.answer] == [RdataType.CNAME, RdataType.A]
    dangling = await ask(ip, "gammel.fjordvik.test", "A")
    assert dangling.rcode() == dns.rcode.NXDOMAIN
    assert str(dangling.answer[0][0].target) == "borte.fjordvik.test."
    external = await ask(ip, "app.fjordvik.test", "A")
    assert external.rcode() == dns.rcode.NOERROR
    assert [str(r[0].target) for r in external.answer] == ["fjordvik-app.azurewebsites.net."]


async def test_names_outside_the_lab_are_refused_not_recursed(server: LabDns) -> None:
    answer = await ask(server.ctx.dns_ip, "www.example.com", "A", recurse=True)
    assert answer.rcode() == dns.rcode.REFUSED
    assert not answer.flags & (dns.flags.RA | dns.flags.AA) and not answer.answer


async def test_edns_versions_above_zero_get_badvers(server: LabDns) -> None:
    query = dns.message.make_query("www.fjordvik.test", "A", use_edns=1)
    answer = await asyncio.to_thread(dns.query.udp, query, server.ctx.dns_ip, 3, PORT)
    assert answer.rcode() == dns.rcode.BADVERS


async def test_delegation_inside_a_zone_is_a_referral(server: LabDns) -> None:
    answer = await ask(server.ctx.dns_ip, "www.utleid.fjordvik.test", "A")
    assert not answer.flags & dns.flags.AA and not answer.answer
    assert [str(r.target) for r in answer.authority[0]] == ["ns.utleid.fjordvik.test."]
    assert [r[0].address for r in answer.additional] == ["127.9.9.9"]


# ---------------------------------------------------------------- transport


async def test_truncation_without_edns_then_tcp(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    classic = await ask(ip, "kjempe.fjordvik.test", "TXT", edns=False)
    assert classic.flags & dns.flags.TC and not classic.answer
    with_edns = await ask(ip, "kjempe.fjordvik.test", "TXT")  # EDNS: 1232 bytes fit
    assert not with_edns.flags & dns.flags.TC and with_edns.answer
    query = dns.message.make_query("kjempe.fjordvik.test", "TXT", use_edns=False)
    response, used_tcp = await asyncio.to_thread(
        dns.query.udp_with_fallback, query, ip, timeout=3, port=PORT
    )
    assert used_tcp and response.answer


async def test_axfr_only_where_allowed(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    xfr = await asyncio.to_thread(
        lambda: dns.zone.from_xfr(dns.query.xfr(ip, "fjordvik.test", port=PORT, timeout=3))
    )
    assert xfr.find_rdataset("stor", "TXT") and xfr.find_rdataset("@", "DNSKEY")
    with pytest.raises(dns.xfr.TransferError):
        await asyncio.to_thread(lambda: list(dns.query.xfr(ip, "aapen.test", port=PORT, timeout=3)))
    over_udp = await ask(ip, "fjordvik.test", "AXFR")
    assert over_udp.rcode() == dns.rcode.REFUSED


async def test_garbage_is_survived(server: LabDns) -> None:
    ip = server.ctx.dns_ip

    def send_garbage() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(0.3)
            udp.sendto(b"\x12\x34garbage that is not DNS", (ip, PORT))
            with pytest.raises(TimeoutError):
                udp.recv(512)
        with socket.create_connection((ip, PORT), timeout=3) as tcp:
            tcp.sendall(b"\x00\x05junk")
            return tcp.recv(512)

    assert await asyncio.to_thread(send_garbage) == b""  # TCP: closed without an answer
    assert (await ask(ip, "www.fjordvik.test", "A")).answer  # and still serving


async def test_idle_tcp_connections_are_closed(server: LabDns) -> None:
    def idle() -> float:
        with socket.create_connection((server.ctx.dns_ip, PORT), timeout=3) as tcp:
            start = time.monotonic()
            assert tcp.recv(1) == b""
            return time.monotonic() - start

    assert 0.3 < await asyncio.to_thread(idle) < 2.5  # the fixture's idle timeout is 0.5 s


# ---------------------------------------------------------------- DNSSEC


async def chain_to(ip: str, zone: str, anchor: dns.rrset.RRset) -> dns.rrset.RRset:
    """Validate trust anchor → test. DNSKEY → DS → zone DNSKEY; return the zone's keys."""
    root = await ask(ip, "test", "DNSKEY", dnssec=True)
    root_keys = rrset(root, "test.", RdataType.DNSKEY)
    assert anchor[0] in root_keys
    validate(root_keys, signatures(root, "test.", RdataType.DNSKEY), anchor)
    ds = await ask(ip, zone, "DS", dnssec=True)
    ds_set = rrset(ds, zone, RdataType.DS)
    validate(ds_set, signatures(ds, zone, RdataType.DS), root_keys)
    keys = await ask(ip, zone, "DNSKEY", dnssec=True)
    zone_keys = rrset(keys, zone, RdataType.DNSKEY)
    digests = {dns.dnssec.make_ds(zone, key, "SHA256") for key in zone_keys}
    assert set(ds_set) <= digests
    validate(zone_keys, signatures(keys, zone, RdataType.DNSKEY), zone_keys)
    return zone_keys


def anchor_from_file(path: Path) -> dns.rrset.RRset:
    text = path.read_text()
    zone = dns.zone.from_text(text, origin="test.", relativize=False, check_origin=False)
    return zone.find_rrset("test.", "DNSKEY")


async def test_signed_zone_validates_from_the_trust_anchor(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    anchor = anchor_from_file(server.trust_anchor_path)
    assert anchor == server.trust_anchor and anchor[0].flags == 257
    keys = await chain_to(ip, "fjordvik.test.", anchor)
    www = await ask(ip, "www.fjordvik.test", "A", dnssec=True)
    assert www.ednsflags & dns.flags.DO
    validate(
        rrset(www, "www.fjordvik.test.", RdataType.A),
        signatures(www, "www.fjordvik.test.", RdataType.A),
        keys,
    )


async def test_nxdomain_is_proven_by_signed_nsec(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    keys = await chain_to(ip, "fjordvik.test.", server.trust_anchor)
    missing = await ask(ip, "finnes-ikke.fjordvik.test", "A", dnssec=True)
    nsecs = [r for r in missing.authority if r.rdtype == RdataType.NSEC]
    qname = dns.name.from_text("finnes-ikke.fjordvik.test.")
    wildcard = dns.name.from_text("*.fjordvik.test.")
    assert any(covers(nsec, qname) for nsec in nsecs)
    assert any(covers(nsec, wildcard) for nsec in nsecs)
    for nsec in nsecs:
        sig = missing.find_rrset(missing.authority, nsec.name, IN, RdataType.RRSIG, RdataType.NSEC)
        validate(nsec, sig, keys)


def covers(nsec: dns.rrset.RRset, name: dns.name.Name) -> bool:
    following = nsec[0].next
    wraps: bool = following <= nsec.name  # the last NSEC points back to the apex
    return nsec.name < name and (wraps or name < following)


async def test_wildcards_are_synthesised_and_validate(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    keys = await chain_to(ip, "fjordvik.test.", server.trust_anchor)
    answer = await ask(ip, "hvem-som-helst.kunde.fjordvik.test", "TXT", dnssec=True)
    name = "hvem-som-helst.kunde.fjordvik.test."
    assert texts(rrset(answer, name, RdataType.TXT)) == {"wild"}
    validate(rrset(answer, name, RdataType.TXT), signatures(answer, name, RdataType.TXT), keys)


async def test_broken_zone_fails_validation(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    keys = await chain_to(ip, "brokk.test.", server.trust_anchor)  # DS and DNSKEY look fine
    www = await ask(ip, "www.brokk.test", "A", dnssec=True)
    with pytest.raises(dns.exception.ValidationFailure):
        validate(
            rrset(www, "www.brokk.test.", RdataType.A),
            signatures(www, "www.brokk.test.", RdataType.A),
            keys,
        )


async def test_no_dnssec_records_without_do_and_none_for_unsigned(server: LabDns) -> None:
    ip = server.ctx.dns_ip
    plain = await ask(ip, "www.fjordvik.test", "A")
    assert all(r.rdtype != RdataType.RRSIG for r in plain.answer)
    unsigned = await ask(ip, "aapen.test", "SOA", dnssec=True)
    assert all(r.rdtype != RdataType.RRSIG for r in unsigned.answer)
    no_ds = await ask(ip, "aapen.test", "DS", dnssec=True)  # the parent proves there is none
    assert not no_ds.answer and any(r.rdtype == RdataType.NSEC for r in no_ds.authority)


ISLANDS = org(
    slug="holmen",
    orgnr="974760843",
    domains=[
        {"name": "holmen.test", "dnssec": "island", "name_servers": ["ns1.holmen.test"]},
        {"name": "skole.holmen.test", "dnssec": "signed"},
    ],
    hosts=[
        {"name": "ns1.holmen.test", "services": [{"kind": "dns_authoritative"}]},
        {
            "name": "ns.bind.test",
            "services": [{"kind": "dns_authoritative", "version_bind": "9.18.28-1~deb12u2-Debian"}],
        },
    ],
)


@pytest.fixture
async def islands(tmp_path: Path, key_dir: Path) -> AsyncIterator[LabDns]:
    ctx = context(tmp_path, ISLANDS, dns_ip=fresh_ip())
    lab = LabDns(ctx, port=PORT, key_dir=key_dir, idle_timeout=0.5)
    await lab.start()
    yield lab
    await lab.stop()


async def test_an_island_is_signed_but_has_no_ds_in_its_parent(islands: LabDns) -> None:
    """holmen.test signs with its own keys; test. proves (signed NSEC) it holds no DS."""
    ip = islands.ctx.dns_ip
    no_ds = await ask(ip, "holmen.test", "DS", dnssec=True)
    assert not no_ds.answer
    (nsec,) = [r for r in no_ds.authority if r.rdtype == RdataType.NSEC]
    assert nsec.name == dns.name.from_text("holmen.test.")
    assert "DS" not in _types(nsec) and "NS" in _types(nsec)
    test_keys = rrset(await ask(ip, "test", "DNSKEY", dnssec=True), "test.", RdataType.DNSKEY)
    sig = no_ds.find_rrset(no_ds.authority, nsec.name, IN, RdataType.RRSIG, RdataType.NSEC)
    validate(nsec, sig, test_keys)
    keys = await ask(ip, "holmen.test", "DNSKEY", dnssec=True)
    own = rrset(keys, "holmen.test.", RdataType.DNSKEY)
    validate(own, signatures(keys, "holmen.test.", RdataType.DNSKEY), own)
    soa = await ask(ip, "holmen.test", "SOA", dnssec=True)
    validate(rrset(soa, "holmen.test.", RdataType.SOA), signatures(soa, "holmen.test.", 6), own)
    # The school zone below it has its DS, signed by the island's keys: a chain that no
    # validator reaches, since it breaks off above.
    ds = await ask(ip, "skole.holmen.test", "DS", dnssec=True)
    ds_set = rrset(ds, "skole.holmen.test.", RdataType.DS)
    validate(ds_set, signatures(ds, "skole.holmen.test.", RdataType.DS), own)


def _types(nsec: dns.rrset.RRset) -> set[str]:
    return set(nsec[0].to_text().split()[1:])  # "next-name TYPE TYPE ..."


async def test_a_zone_names_its_own_name_servers(islands: LabDns) -> None:
    ip = islands.ctx.dns_ip
    apex = await ask(ip, "holmen.test", "NS")
    assert {r.target.to_text() for r in rrset(apex, "holmen.test.", RdataType.NS)} == {
        "ns1.holmen.test."
    }
    soa = rrset(await ask(ip, "holmen.test", "SOA"), "holmen.test.", RdataType.SOA)
    assert soa[0].mname.to_text() == "ns1.holmen.test."
    default = await ask(ip, "skole.holmen.test", "NS")
    assert {r.target.to_text() for r in rrset(default, "skole.holmen.test.", RdataType.NS)} == {
        "ns1.test.",
        "ns2.test.",
    }


async def ask_chaos(ip: str, name: str, rdtype: str = "TXT") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, dns.rdataclass.CH)
    return await asyncio.to_thread(dns.query.udp, query, ip, timeout=3, port=PORT)


async def test_version_bind_as_each_name_server_is_configured(islands: LabDns) -> None:
    """As Debian 12's BIND 9.18 answers (measured): its version in CH TXT with TTL 0 and AA
    by default, no data with `version none;`, REFUSED for version.server; REFUSED
    everywhere as NSD with `hide-version: yes` (the lab's shared server, ns1.holmen.test)."""
    hosts = {h.name: h for _, h in islands.ctx.manifest.hosts()}
    endpoints = []
    try:
        for name in ("ns.bind.test", "ns1.holmen.test"):
            address = fresh_ip()
            version = hosts[name].services[0].version_bind
            endpoints.append(await start_name_server(islands.ctx, address, PORT, version))
        endpoints.append(await start_name_server(islands.ctx, fresh_ip(), PORT, ""))
        telling, hiding, none = (e.ip for e in endpoints)
        answer = await ask_chaos(telling, "version.bind.")
        assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA
        (txt,) = answer.answer
        assert txt.rdclass == dns.rdataclass.CH and txt.ttl == 0
        assert texts(txt) == {"9.18.28-1~deb12u2-Debian"}
        empty = await ask_chaos(none, "version.bind.")
        assert empty.rcode() == dns.rcode.NOERROR and not empty.answer
        assert empty.authority[0].rdtype == RdataType.SOA
        for qname in ("version.bind.", "version.server."):
            assert (await ask_chaos(hiding, qname)).rcode() == dns.rcode.REFUSED
            assert (await ask_chaos(islands.ctx.dns_ip, qname)).rcode() == dns.rcode.REFUSED
        assert (await ask_chaos(telling, "version.server.")).rcode() == dns.rcode.REFUSED
        assert (await ask_chaos(telling, "version.bind.", "A")).rcode() == dns.rcode.REFUSED
        # ... and the zones, as the lab's own name server answers them.
        www = await ask(telling, "skole.holmen.test", "SOA")
        assert www.flags & dns.flags.AA and not www.flags & dns.flags.RA
    finally:
        for endpoint in endpoints:
            await endpoint.stop()


def test_a_name_server_must_be_a_dns_host(tmp_path: Path) -> None:
    bad = org(domains=[{"name": "feil.test", "name_servers": ["www.feil.test"]}])
    bad["hosts"] = [{"name": "www.feil.test"}]
    with pytest.raises(ManifestError, match="not a host with a dns_authoritative service"):
        context(tmp_path, bad)
    with pytest.raises(ManifestError, match="version_bind: only for dns_authoritative"):
        context(tmp_path, org(hosts=[{"name": "w.t.test", "services": [
            {"kind": "ssh", "version_bind": "1.0"}]}]))  # fmt: skip


# ---------------------------------------------------------------- open resolver


async def test_open_resolver_recurses_for_lab_names_only(server: LabDns, tmp_path: Path) -> None:
    resolver_ip = fresh_ip()
    hosts = [
        {"name": "dns.fjordvik.test", "ip": resolver_ip, "services": [{"kind": "dns_resolver"}]}
    ]
    ctx = context(tmp_path, org(hosts=hosts))
    assert open_resolver_addresses(ctx) == [(resolver_ip, 53)]
    assert server.ctx.extra["dns.zones"] is server.zones  # what the lab runtime shares
    endpoint = await start_open_resolver(ctx, resolver_ip, PORT, server.zones)
    try:
        answer = await ask(resolver_ip, "portal.fjordvik.test", "A", recurse=True)
        assert answer.flags & dns.flags.RA and not answer.flags & dns.flags.AA
        assert rrset(answer, "www.fjordvik.test.", RdataType.A)
        outside = await ask(resolver_ip, "www.example.com", "A", recurse=True)
        assert outside.rcode() == dns.rcode.SERVFAIL and outside.flags & dns.flags.RA
        leaving = await ask(resolver_ip, "app.fjordvik.test", "A", recurse=True)
        assert leaving.rcode() == dns.rcode.SERVFAIL  # the CNAME leads out of the lab
    finally:
        await endpoint.stop()
    authoritative = await ask(server.ctx.dns_ip, "portal.fjordvik.test", "A", recurse=True)
    assert not authoritative.flags & dns.flags.RA


# ---------------------------------------------------------------- manifest errors, speed


def test_cname_next_to_other_data_is_a_manifest_error(tmp_path: Path, key_dir: Path) -> None:
    records = [{"name": "www", "type": "CNAME", "value": "annet.test."}]
    bad = org(
        domains=[{"name": "feil.test", "records": records}], hosts=[{"name": "www.feil.test"}]
    )
    with pytest.raises(ManifestError, match="CNAME"):
        build_zones(context(tmp_path, bad), key_dir)


def test_the_name_server_names_are_reserved(tmp_path: Path, key_dir: Path) -> None:
    with pytest.raises(ManifestError, match="reserved"):
        build_zones(context(tmp_path, org(hosts=[{"name": "ns1.test"}])), key_dir)


def demo_sized_orgs(count: int) -> list[dict[str, Any]]:
    """Forty organisations, fifty zones, 120 hosts: the size of the demo lab."""
    states = ["signed", "unsigned", "broken"]
    orgs = []
    for i in range(count):
        domains = [{"name": f"org{i}.test", "mx": [f"mx.org{i}.test"], "dnssec": states[i % 3]}]
        domains[0] |= {"spf": ["v=spf1 mx -all"], "dmarc": "v=DMARC1; p=none"}
        if i % 4 == 0:
            domains.append({"name": f"tjeneste{i}.test", "dnssec": "signed"})
        hosts = [{"name": f"{h}.org{i}.test"} for h in ("www", "mx", "vpn")]
        orgnr = str(900000000 + i * 1000)
        while not _valid(orgnr):
            orgnr = str(int(orgnr) + 1)
        orgs.append(org(slug=f"org{i}", orgnr=orgnr, domains=domains, hosts=hosts))
    return orgs


def _valid(orgnr: str) -> bool:
    from utsyn.orgnr import is_valid_orgnr

    return is_valid_orgnr(orgnr)


def test_a_demo_sized_lab_builds_and_signs_from_its_key_cache(
    tmp_path: Path, key_dir: Path
) -> None:
    """Its speed is the lab benchmark's to measure, not a test's (no timed assertions)."""
    ctx = context(tmp_path, *demo_sized_orgs(40))
    first = build_zones(ctx, key_dir)  # generates the keys once: the key cache is warm after
    zones = build_zones(ctx, key_dir)
    assert len(zones.zones) == 52 and sum(z.signed for z in zones.zones.values()) >= 30
    assert sorted(zones.zones) == sorted(first.zones)
