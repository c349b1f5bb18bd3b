"""Master files and DNSSEC key files for a real name server, from the lab's own zone data.

The lab builds its zones once (`lab.zones`); a real name server is handed the same records
as master files (RFC 1035 5) and the same DNSSEC keys as BIND key files, so that whichever
server answers, the DS records in the parent zones fit the keys the child zone is signed with
and the lab's trust anchor (the `test.` KSK) stays the one anchor. What the lab added for its
own signing (DNSKEY, NSEC, RRSIG) is left out: the real server signs the zone itself.

A BROKEN zone cannot come out of a signer that works: it is signed with `dnssec-signzone`
and then every signature but the DNSKEY RRset's is spoiled, as the lab's own signer does
(`zones._spoil`), so the keys and the DS match and no data in the zone validates.
"""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import dns.dnssec
import dns.rdatatype
import dns.zone
from dns.rdtypes.ANY.RRSIG import RRSIG
from dns.rdtypes.dnskeybase import Flag

from utsyn.errors import LabError
from utsyn.lab.zones import TTL, Name, RdataType, RRset, ServedZone, zone_keys

# What the lab's signer adds to a zone; the real server makes its own.
DNSSEC_TYPES = frozenset(
    {
        RdataType.DNSKEY,
        RdataType.NSEC,
        RdataType.NSEC3,
        RdataType.NSEC3PARAM,
        RdataType.RRSIG,
        RdataType.CDS,
        RdataType.CDNSKEY,
    }
)
ALGORITHM = 13  # ECDSAP256SHA256, the lab's only DNSSEC algorithm (zones.ALGORITHM)
KEY_AGE = 86400  # the keys' Created/Publish/Activate times: a day ago, so both are in use
SIGN_TIMEOUT = 30.0  # seconds for dnssec-signzone on one zone
CLOCK_SKEW = 3600  # signatures start an hour in the past, as the lab's own (zones.CLOCK_SKEW)
SIGNATURE_LIFETIME = 30 * 86400


def file_name(origin: Name) -> str:
    """`ddb.test.zone`; `test.zone` for the lab's root of trust."""
    return f"{origin.to_text()}zone"


def zone_text(zone: ServedZone) -> str:
    """The zone's data as a master file: SOA first, then each owner in canonical order,
    absolute names and each RRset's own TTL; DS records stay (they are the parent's data)."""
    rrsets: list[RRset] = [zone.soa()]
    for name in zone.names:
        for rdtype, rrset in zone.nodes[name].items():
            if rdtype in DNSSEC_TYPES or (name == zone.origin and rdtype == RdataType.SOA):
                continue
            rrsets.append(rrset)
    lines = [f"; {zone.origin} as the lab serves it; written by Utsyn at every start"]
    lines += [rrset.to_text() for rrset in rrsets]
    return "\n".join(lines) + "\n"


def write_key_files(origin: Name, key_dir: Path, folder: Path) -> None:
    """The zone's KSK and ZSK as BIND key files (`K<zone>+013+<tag>.key` and `.private`),
    published and active since a day ago; BIND's `dnssec-policy` adopts keys it finds in its
    key directory that fit the policy, instead of making its own."""
    folder.mkdir(parents=True, exist_ok=True)
    since = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() - KEY_AGE))
    for private, dnskey in zone_keys(origin, key_dir):
        tag = dns.dnssec.key_id(dnskey)
        base = folder / f"K{origin.to_text()}+{ALGORITHM:03d}+{tag:05d}"
        role = "key-signing" if dnskey.flags & Flag.SEP else "zone-signing"
        base.with_name(base.name + ".key").write_text(
            f"; This is a {role} key, keyid {tag}, for {origin}\n"
            f"{origin} {TTL} IN DNSKEY {dnskey.to_text()}\n",  # type: ignore[no-untyped-call]
            encoding="ascii",
        )
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        secret = base.with_name(base.name + ".private")
        secret.write_text(
            "Private-key-format: v1.3\n"
            f"Algorithm: {ALGORITHM} (ECDSAP256SHA256)\n"
            f"PrivateKey: {base64.b64encode(scalar).decode()}\n"
            f"Created: {since}\nPublish: {since}\nActivate: {since}\n",
            encoding="ascii",
        )
        secret.chmod(0o600)


def sign_broken(signzone: str, zone: ServedZone, unsigned: Path, keys: Path, out: Path) -> None:
    """Sign `unsigned` with the zone's keys in `keys` and write it to `out` with every
    signature spoiled but the DNSKEY RRset's (the lab's BROKEN state)."""
    now = int(time.time())
    argv = [
        signzone,
        *("-S", "-K", str(keys)),  # smart signing: the keys and their DNSKEYs from `keys`
        "-x",  # the DNSKEY RRset signed by the KSK only, as the lab signs it
        *("-s", str(now - CLOCK_SKEW), "-e", str(now + SIGNATURE_LIFETIME)),
        *("-N", "keep", "-O", "full", "-o", zone.origin.to_text()),
        *("-d", str(out.parent), "-f", str(out)),
        str(unsigned),
    ]
    done = subprocess.run(
        argv, cwd=out.parent, capture_output=True, text=True, timeout=SIGN_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise LabError(
            "dnssec-signzone failed for %(zone)s: %(reason)s",
            zone=zone.origin,
            reason=done.stderr.strip(),
        )
    signed = dns.zone.from_file(str(out), zone.origin, relativize=False)
    for _, node in signed.nodes.items():
        for rdataset in node.rdatasets:
            if rdataset.rdtype != RdataType.RRSIG:
                continue
            spoiled = [_spoil(rrsig) for rrsig in rdataset]
            rdataset.clear()
            for rrsig in spoiled:
                rdataset.add(rrsig)
    signed.to_file(str(out), relativize=False)


def _spoil(rrsig: RRSIG) -> RRSIG:
    if rrsig.type_covered == dns.rdatatype.DNSKEY:
        return rrsig
    bad = rrsig.signature[:-1] + bytes([rrsig.signature[-1] ^ 0xFF])
    spoiled = rrsig.replace(signature=bad)
    assert isinstance(spoiled, RRSIG)
    return spoiled
