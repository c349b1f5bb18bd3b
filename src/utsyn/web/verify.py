"""Footprint verification by DNS: the organisation publishes a TXT record we ask for.

The record is `_utsyn-verify.<domain>  TXT  "utsyn-verify=<token>"` (a label of its own,
not the apex: the apex TXT set is shared with SPF and others' verifications, and a label
can be removed without touching them). It is looked up with dnspython against the name
servers of `UTSYN_DNS_SERVERS` only, never the system resolver.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

RECORD_LABEL = "_utsyn-verify"
RECORD_PREFIX = "utsyn-verify="


class VerificationUnavailable(Exception):
    """No configured name server gave an answer; the message says why."""


def record_name(name: str) -> str:
    return f"{RECORD_LABEL}.{name.rstrip('.')}"


def record_value(token: str) -> str:
    return f"{RECORD_PREFIX}{token}"


def txt_values(name: str, servers: Sequence[str], port: int, timeout: float) -> list[str]:
    """The TXT strings at `name` (empty when it does not exist), from the first server
    that answers; each record's strings are joined, as RFC 7208 joins SPF's."""
    if not servers:
        raise VerificationUnavailable("no name servers configured (UTSYN_DNS_SERVERS)")
    query = dns.message.make_query(dns.name.from_text(name), dns.rdatatype.TXT)
    problems = []
    for server in servers:
        try:
            response, _ = dns.query.udp_with_fallback(query, server, timeout=timeout, port=port)
        except (dns.exception.DNSException, OSError) as exc:
            problems.append(f"{server}: {exc or type(exc).__name__}")
            continue
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return []
        if rcode != dns.rcode.NOERROR:
            problems.append(f"{server}: {dns.rcode.to_text(rcode)}")
            continue
        return [
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT
            for rdata in rrset
        ]
    raise VerificationUnavailable("; ".join(problems))


def is_verified(values: Sequence[str], token: str) -> bool:
    return record_value(token) in (value.strip() for value in values)
