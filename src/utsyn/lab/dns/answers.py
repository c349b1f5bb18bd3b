"""DNS messages from the lab zones: queries parsed and prechecked, answers rendered to fit
the client's limit, and the two kinds of server the lab runs: the authoritative one
(`Authority`) and the misconfigured open resolver (`OpenResolver`)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rrset
from dns.rdtypes.ANY.TXT import TXT

from utsyn.lab.dns.lookup import Lookup, Resolution
from utsyn.lab.zones import (
    MAX_TXT_STRING,
    LabZones,
    RdataType,
    RRset,
    ServedZone,
)

log = logging.getLogger(__name__)

SERVER_UDP_PAYLOAD = 1232  # the DNS Flag Day 2020 default: no IP fragmentation
CLASSIC_UDP_PAYLOAD = 512  # without EDNS (RFC 1035 4.2.1)
AXFR_CHUNK = 16_000  # bytes of records per AXFR message, well below the 64 KiB limit

# The name BIND answers with its version in class CHAOS (a convention, cf. RFC 4892); BIND
# 9.18 refuses `version.server`, which Knot, NSD and Unbound answer as well.
VERSION_BIND = dns.name.from_text("version.bind.")
CHAOS_TTL = 0  # what BIND 9.18 sends: the answer is about this server, now
# BIND 9.18 with `version none;`: NOERROR, no answer, and this SOA (measured on Debian 12).
HIDDEN_VERSION_SOA = "version.bind. hostmaster.version.bind. 0 28800 7200 604800 86400"

# A responder turns one query's wire bytes into the reply messages, or None to drop it.
Responder = Callable[[bytes, bool], list[bytes] | None]


# ---------------------------------------------------------------- messages


def _parse(wire: bytes) -> dns.message.Message | None:
    """The query, or None for anything that is not one (garbage, a response)."""
    try:
        query = dns.message.from_wire(wire)
    except Exception:  # hostile input may break the parser in any way; it must not stop us
        return None
    if query.flags & dns.flags.QR:
        return None  # never answer a response: that is how reflection loops start
    return query


def _response(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    response = dns.message.make_response(query, our_payload=SERVER_UDP_PAYLOAD)
    response.set_rcode(rcode)
    return response


def _precheck(
    query: dns.message.Message, classes: tuple[int, ...] = (dns.rdataclass.IN,)
) -> dns.message.Message | None:
    """An error response for a query no lookup should see, or None."""
    if query.opcode() != dns.opcode.QUERY:
        return _response(query, dns.rcode.NOTIMP)
    if len(query.question) != 1:
        return _response(query, dns.rcode.FORMERR)
    if query.edns > 0:
        return _response(query, dns.rcode.BADVERS)  # we speak EDNS version 0 only
    if query.question[0].rdclass not in classes:
        return _response(query, dns.rcode.REFUSED)
    return None


def _wants_dnssec(query: dns.message.Message) -> bool:
    return query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)


def _fill(response: dns.message.Message, result: Resolution, dnssec: bool) -> None:
    response.set_rcode(result.rcode)
    response.answer = list(result.answer)
    response.authority = list(result.authority)
    response.additional = list(result.additional)
    if dnssec:
        response.use_edns(0, dns.flags.DO, SERVER_UDP_PAYLOAD)


def _render(response: dns.message.Message, query: dns.message.Message, tcp: bool) -> bytes:
    """Wire bytes that fit the client's limit: drop the additional section, then truncate."""
    if tcp:
        limit = 65535
    elif query.edns >= 0:
        limit = min(max(query.payload, CLASSIC_UDP_PAYLOAD), SERVER_UDP_PAYLOAD)
    else:
        limit = CLASSIC_UDP_PAYLOAD
    with contextlib.suppress(dns.exception.TooBig):
        return response.to_wire(max_size=limit)
    response.additional = []
    with contextlib.suppress(dns.exception.TooBig):
        return response.to_wire(max_size=limit)
    # Like BIND: an empty answer with TC set, so the client retries over TCP.
    response.answer = []
    response.authority = []
    response.flags |= dns.flags.TC
    return response.to_wire(max_size=limit)


Answerer = Callable[[dns.message.Message, bool], list[dns.message.Message]]


def responder(answer: Answerer) -> Responder:
    def respond(wire: bytes, tcp: bool) -> list[bytes] | None:
        query = _parse(wire)
        if query is None:
            return None
        try:
            replies = answer(query, tcp)
        except Exception:  # a bug must cost one answer, not the server
            log.exception("lab DNS: failed to answer %s", query.question)
            replies = [_response(query, dns.rcode.SERVFAIL)]
        try:
            return [_render(reply, query, tcp) for reply in replies]
        except Exception:
            log.exception("lab DNS: failed to render the answer to %s", query.question)
            return None

    return respond


class Authority:
    """The authoritative server's answers: from its zones only, never recursive; in class
    CHAOS, its version when it is configured to tell (`version`), else REFUSED."""

    def __init__(self, zones: LabZones, version: str | None = None) -> None:
        self.zones = zones
        self.lookup = Lookup(zones)
        self.version = version

    def answer(self, query: dns.message.Message, tcp: bool) -> list[dns.message.Message]:
        error = _precheck(query, (dns.rdataclass.IN, dns.rdataclass.CH))
        if error is not None:
            return [error]
        question = query.question[0]
        if question.rdclass == dns.rdataclass.CH:
            return [self.chaos(query)]
        if question.rdtype == RdataType.AXFR:
            return self.transfer(query, tcp)
        if question.rdtype == RdataType.IXFR:
            return [_response(query, dns.rcode.NOTIMP)]
        dnssec = _wants_dnssec(query)
        result = self.lookup.resolve(question.name, question.rdtype, dnssec)
        if result is None:
            return [_response(query, dns.rcode.REFUSED)]  # not ours, and we do not recurse
        response = _response(query, result.rcode)
        _fill(response, result, dnssec)
        if result.authoritative:
            response.flags |= dns.flags.AA
        return [response]

    def chaos(self, query: dns.message.Message) -> dns.message.Message:
        """As BIND 9.18 answers: the version as configured, no data for `version none;`
        (an empty `version`); REFUSED for anything else, as NSD does with `hide-version`."""
        question = query.question[0]
        wanted = question.rdtype in (RdataType.TXT, RdataType.ANY)
        if self.version is None or not wanted or question.name != VERSION_BIND:
            return _response(query, dns.rcode.REFUSED)
        response = _response(query, dns.rcode.NOERROR)
        response.flags |= dns.flags.AA
        if not self.version:
            soa = dns.rdata.from_text(dns.rdataclass.CH, RdataType.SOA, HIDDEN_VERSION_SOA)
            response.authority = [dns.rrset.from_rdata(VERSION_BIND, 86400, soa)]
            return response
        data = self.version.encode()[:MAX_TXT_STRING]
        text = TXT(dns.rdataclass.CH, RdataType.TXT, [data])
        response.answer = [dns.rrset.from_rdata(question.name, CHAOS_TTL, text)]
        return response

    def transfer(self, query: dns.message.Message, tcp: bool) -> list[dns.message.Message]:
        """AXFR (RFC 5936): over TCP, for a zone apex whose manifest allows it."""
        zone = self.zones.zones.get(query.question[0].name)
        if not tcp or zone is None or not zone.transfer:
            return [_response(query, dns.rcode.REFUSED)]
        soa = zone.soa()
        records = [soa, *_zone_rrsets(zone), soa]
        messages: list[dns.message.Message] = []
        for chunk in _chunks(records):
            message = _response(query, dns.rcode.NOERROR)
            message.flags |= dns.flags.AA
            message.answer = chunk
            if messages:
                message.question = []  # only the first message repeats the question
            messages.append(message)
        return messages


def _zone_rrsets(zone: ServedZone) -> list[RRset]:
    rrsets = []
    for name in zone.names:
        for rdtype, rrset in zone.nodes[name].items():
            if not (name == zone.origin and rdtype == RdataType.SOA):
                rrsets.append(rrset)
        rrsets.extend(zone.signatures.get(name, {}).values())
    return rrsets


def _chunks(records: list[RRset]) -> list[list[RRset]]:
    chunks: list[list[RRset]] = [[]]
    size = 0
    for rrset in records:
        buffer = io.BytesIO()
        rrset.to_wire(buffer)
        length = len(buffer.getvalue())
        if size + length > AXFR_CHUNK and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(rrset)
        size += length
    return chunks


class OpenResolver:
    """A misconfigured recursive resolver: answers anyone, but only ever from lab data."""

    def __init__(self, zones: LabZones) -> None:
        self.lookup = Lookup(zones)

    def answer(self, query: dns.message.Message, tcp: bool) -> list[dns.message.Message]:
        error = _precheck(query)
        if error is not None:
            error.flags |= dns.flags.RA
            return [error]
        question = query.question[0]
        if question.rdtype in (RdataType.AXFR, RdataType.IXFR):
            return [_response(query, dns.rcode.REFUSED)]
        dnssec = _wants_dnssec(query)
        result = self.lookup.resolve(question.name, question.rdtype, dnssec)
        response = _response(query, dns.rcode.SERVFAIL)
        response.flags |= dns.flags.RA
        # Outside the lab a real resolver would go to the internet; this one must never.
        if result is not None and result.complete:
            _fill(response, result, dnssec)
            response.additional = []  # resolvers answer minimally
        return [response]
