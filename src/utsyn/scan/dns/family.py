"""The DNS and e-mail family: what a zone publishes about its mail and its own integrity,
and whether a host answers recursive queries for anyone.

Every query goes through the scan's `Resolver` (the operator's name servers, behind the
scope guard); the open-resolver probe goes to the scanned host itself through
`GuardedNet.dns`, as any other destination (so do the `version.bind` questions to a zone's
name servers). SPF, DMARC, DNSSEC, zone transfers, MTA-STS and name-server versions have
their own modules; this one asks the questions and turns answers into observations.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import ClassVar

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from utsyn.scan.dns.anchors import load_anchors
from utsyn.scan.dns.dmarc import evaluate_dmarc, parse_tags
from utsyn.scan.dns.dnssec import ChainWalker
from utsyn.scan.dns.mta_sts import (
    PolicyFetchError,
    PolicyUnreachable,
    fetch_policy,
    parse_policy,
    sts_records,
)
from utsyn.scan.dns.ns_version import name_server_versions
from utsyn.scan.dns.spf import evaluate_spf
from utsyn.scan.dns.zone import dangling_cnames, try_transfers
from utsyn.scan.family import ScanContext
from utsyn.scan.model import DomainTarget, Job, Observation, ServiceTarget, Target, failed, observe
from utsyn.scan.pacing import PacedResolver, paced
from utsyn.scan.resolve import MAX_CNAME_CHAIN, ResolveError

# Selectors the big mail platforms and common MTAs use (Microsoft 365: selector1/2, Google
# Workspace: google, cPanel/OpenDKIM: default, Mailchimp: k1, ...). DKIM keys cannot be
# listed, only guessed (RFC 6376 3.1): a key under another selector goes unseen.
DKIM_SELECTORS = ("selector1", "selector2", "default", "google", "s1", "s2", "k1", "dkim", "mail")
ED25519_BITS = 256  # RFC 8463: a 32-byte key

DomainCheck = Callable[[DomainTarget, ScanContext], Awaitable[list[Observation]]]


class DnsFamily:
    family: ClassVar[str] = "dns"

    def jobs(self, target: Target) -> Iterable[Job]:
        if isinstance(target, DomainTarget):
            return [Job(self.family, name, target) for name in DOMAIN_CHECKS]
        if isinstance(target, ServiceTarget) and target.protocol == "dns":
            return [Job(self.family, "open_resolver", target)]
        return []

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        target = job.target
        if isinstance(target, ServiceTarget):
            return [await open_resolver(target, scan)]
        check, names = DOMAIN_CHECKS[job.name]
        try:
            return await check(target, scan)
        except ResolveError as exc:
            return [failed(target, name, str(exc), probe=job.name) for name in names]


# ------------------------------------------------------------------ answers


async def txt_strings(resolver: PacedResolver, name: str) -> list[str]:
    """The TXT records at `name` (CNAMEs followed), each one's strings joined (RFC 7208 3.3);
    [] for NXDOMAIN or no TXT. Raises ResolveError when the name servers fail."""
    current = name
    for _ in range(MAX_CNAME_CHAIN):
        answer = await resolver.query(current, "TXT")
        if answer.rcode == "NXDOMAIN":
            return []
        if answer.rcode != "NOERROR":
            raise ResolveError(f"{current} TXT: {answer.rcode}")
        txt = [r for r in answer.rrsets if r.rdtype == dns.rdatatype.TXT]
        if txt:
            return [b"".join(rdata.strings).decode("utf-8", "replace") for r in txt for rdata in r]
        cnames = answer.texts("CNAME")
        if not cnames:
            return []
        current = cnames[-1].rstrip(".")
    return []


# ------------------------------------------------------------------ domain checks


async def check_mx(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    answer = await paced(scan).query(target.name, "MX")
    if answer.rcode not in ("NOERROR", "NXDOMAIN"):
        raise ResolveError(f"{target.name} MX: {answer.rcode}")
    records = sorted(
        (r.preference, r.exchange.to_text().rstrip("."))
        for rrset in answer.rrsets
        if rrset.rdtype == dns.rdatatype.MX
        for r in rrset
    )
    evidence = "\n".join(f"MX {p} {x or '.'}" for p, x in records) or f"no MX ({answer.rcode})"
    # A null MX ("0 .", RFC 7505) says the domain receives no mail: no exchangers.
    exchangers = [x for _, x in records if x]
    return [observe(target, "dns.mx", exchangers, probe=f"MX {target.name}", evidence=evidence)]


async def check_spf(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    result = await evaluate_spf(target.name, functools.partial(txt_strings, paced(scan)))
    return [observe(target, "dns.spf", result.verdict, f"TXT {target.name}", result.evidence())]


async def check_dmarc(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    name = f"_dmarc.{target.name}"
    result = evaluate_dmarc(await txt_strings(paced(scan), name))
    return [observe(target, "dns.dmarc", result.verdict, f"TXT {name}", result.evidence())]


async def check_dkim(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    names = [f"{s}._domainkey.{target.name}" for s in DKIM_SELECTORS]
    answers = await asyncio.gather(*(txt_strings(paced(scan), n) for n in names))
    keys: dict[str, int] = {}
    lines = []
    for selector, texts in zip(DKIM_SELECTORS, answers, strict=True):
        for text in texts:
            bits, note = dkim_key_bits(text)
            lines.append(f"{selector}: {note}: {text}")
            if bits is not None:
                keys.setdefault(selector, bits)
    evidence = "\n".join(lines) or f"no key under {', '.join(DKIM_SELECTORS)}"
    probe = f"TXT <selector>._domainkey.{target.name}"
    return [observe(target, "dns.dkim", dict(sorted(keys.items())), probe, evidence)]


def dkim_key_bits(record: str) -> tuple[int | None, str]:
    """The key size of a DKIM key record (RFC 6376 3.6.1), or None and why not."""
    try:
        tags = dict(parse_tags(record))
    except ValueError as exc:
        return None, f"not a tag list ({exc})"
    if "p" not in tags:
        return None, "no p= tag"
    data = "".join(tags["p"].split())
    if not data:
        return None, "revoked (empty p=)"
    try:
        der = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None, "p= is not base64"
    kind = tags.get("k", "rsa").lower()
    if kind == "ed25519":
        return (ED25519_BITS, "ed25519") if len(der) == 32 else (None, "bad ed25519 key")
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        return None, "p= is not a public key"
    if not isinstance(key, rsa.RSAPublicKey):
        return None, f"k={kind} key of another type"
    return key.key_size, f"rsa {key.key_size} bits"


async def check_mta_sts(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    name = f"_mta-sts.{target.name}"
    records = sts_records(await txt_strings(paced(scan), name))
    probe = f"TXT {name} + HTTPS mta-sts.{target.name}"
    if len(records) != 1:
        # Several records are as good as none to a sender (RFC 8461 3.1).
        why = "no v=STSv1 record" if not records else f"{len(records)} v=STSv1 records"
        return [observe(target, "dns.mta_sts", None, probe, why)]
    try:
        text = await fetch_policy(target.name, scan)
    except PolicyUnreachable as exc:
        return [failed(target, "dns.mta_sts", f"policy host unreachable: {exc}", probe)]
    except PolicyFetchError as exc:  # a name server failure (ResolveError) is a failure
        evidence = f"record: {records[0]}\npolicy not available: {exc}"
        return [observe(target, "dns.mta_sts", None, probe, evidence)]
    policy = parse_policy(text)
    evidence = f"record: {records[0]}\npolicy:\n" + text.replace("\r\n", "\n")
    return [observe(target, "dns.mta_sts", policy.valid_mode, probe, evidence)]


async def check_tls_rpt(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    name = f"_smtp._tls.{target.name}"
    texts = await txt_strings(paced(scan), name)
    # Exactly one record that begins with the version (RFC 8460 3).
    records = [t for t in texts if t.replace(" ", "").startswith("v=TLSRPTv1;")]
    evidence = "\n".join(texts) or "no TXT record"
    return [observe(target, "dns.tls_rpt", len(records) == 1, f"TXT {name}", evidence)]


async def check_caa(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    """CAA applies from the closest name upwards (RFC 8659 3): the zone's own record, else
    its parent's, stopping below the top-level domain."""
    labels = target.name.rstrip(".").split(".")
    for start in range(len(labels) - 1):
        name = ".".join(labels[start:])
        answer = await paced(scan).query(name, "CAA")
        if answer.rcode not in ("NOERROR", "NXDOMAIN"):
            raise ResolveError(f"{name} CAA: {answer.rcode}")
        records = answer.texts("CAA")
        if records:
            evidence = "\n".join(f"{name} CAA {r}" for r in records)
            return [observe(target, "dns.caa", True, f"CAA {name}", evidence)]
    return [observe(target, "dns.caa", False, f"CAA {target.name}", "no CAA record")]


async def check_dnssec(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    probe = f"DNSKEY/DS/RRSIG {target.name}"
    try:
        anchors = load_anchors(scan.config.trust_anchor_file)
    except (ValueError, OSError) as exc:  # an operator's unreadable anchor file
        return [failed(target, "dns.dnssec", f"trust anchor: {exc}", probe)]
    report = await ChainWalker(paced(scan), anchors).report(target.name)
    return [observe(target, "dns.dnssec", report.state, probe, report.evidence())]


async def check_zone(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    """AXFR first: a transfer, when allowed, names every CNAME for the dangling check."""
    transfer = await try_transfers(target.name, scan)
    dangling, evidence = await dangling_cnames(target.name, transfer.cname_owners(), scan)
    return [
        observe(target, "dns.zone_transfer", transfer.allowed, "AXFR", transfer.evidence()),
        observe(target, "dns.dangling_cname", dangling, "CNAME targets", evidence),
    ]


async def check_ns_version(target: DomainTarget, scan: ScanContext) -> list[Observation]:
    versions, evidence = await name_server_versions(target.name, scan)
    probe = f"version.bind CH TXT to the name servers of {target.name}"
    return [observe(target, "dns.ns_version", versions, probe, evidence)]


DOMAIN_CHECKS: dict[str, tuple[DomainCheck, tuple[str, ...]]] = {
    "mx": (check_mx, ("dns.mx",)),
    "spf": (check_spf, ("dns.spf",)),
    "dmarc": (check_dmarc, ("dns.dmarc",)),
    "dkim": (check_dkim, ("dns.dkim",)),
    "mta_sts": (check_mta_sts, ("dns.mta_sts",)),
    "tls_rpt": (check_tls_rpt, ("dns.tls_rpt",)),
    "caa": (check_caa, ("dns.caa",)),
    "dnssec": (check_dnssec, ("dns.dnssec",)),
    "zone": (check_zone, ("dns.zone_transfer", "dns.dangling_cname")),
    "ns_version": (check_ns_version, ("dns.ns_version",)),
}


# ------------------------------------------------------------------ open resolver


def probe_name(host: str) -> str:
    """A name outside the host's own zones that every recursive resolver can answer: the
    host's top-level domain (the root for a bare address). An authoritative-only server
    refuses it or refers upwards, without RA."""
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return "."
    return host.rstrip(".").rsplit(".", 1)[-1] + "."


async def open_resolver(target: ServiceTarget, scan: ScanContext) -> Observation:
    """One recursive query (RD set) to the host: RA and an answer mean it recurses for anyone
    (the amplification and cache-poisoning exposure of RFC 5358)."""
    name = probe_name(target.host)
    query = dns.message.make_query(name, "SOA")  # RD is set by default
    probe = f"{name} SOA, RD"
    try:
        response = await _ask(query, target, scan)
    except (dns.exception.DNSException, OSError) as exc:
        return failed(target, "dns.open_resolver", f"{type(exc).__name__}: {exc}", probe)
    recursion = bool(response.flags & dns.flags.RA)
    rcode = dns.rcode.to_text(response.rcode())
    answered = rcode == "NOERROR" and bool(response.answer)
    evidence = f"rcode {rcode}, flags {dns.flags.to_text(response.flags)}\n" + "\n".join(
        r.to_text() for r in response.answer
    )
    return observe(target, "dns.open_resolver", recursion and answered, probe, evidence)


async def _ask(
    query: dns.message.Message, target: ServiceTarget, scan: ScanContext
) -> dns.message.Message:
    try:
        response = await scan.net.dns(query, target.ip, target.port)
    except dns.exception.Timeout:
        # Discovery reached this port over TCP: a server may not answer UDP from us.
        return await scan.net.dns(query, target.ip, target.port, tcp=True)
    if response.flags & dns.flags.TC:
        return await scan.net.dns(query, target.ip, target.port, tcp=True)
    return response
