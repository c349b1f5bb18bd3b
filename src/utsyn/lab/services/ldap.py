"""LDAP: the rootDSE for anyone, anonymous binds, and nothing else without a login."""

from __future__ import annotations

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.ber import ber, ber_int, ber_items
from utsyn.lab.services.common import MAX_REQUESTS, banner
from utsyn.lab.session import ProtocolViolation, Serve, Session

_LDAP_BIND, _LDAP_UNBIND, _LDAP_SEARCH, _LDAP_EXTENDED = 0x60, 0x42, 0x63, 0x77
_LDAP_SUCCESS, _LDAP_PROTOCOL_ERROR = 0, 2
_LDAP_INAPPROPRIATE_AUTH, _LDAP_INVALID_CREDENTIALS = 48, 49


async def _read_ber(s: Session, max_size: int = 65536) -> tuple[int, bytes]:
    """One whole LDAP message (tag and content) from the client, its size bounded."""
    tag, first = await s.read_exactly(2)
    size = first
    if first & 0x80:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise ProtocolViolation("unsupported BER length")
        size = int.from_bytes(await s.read_exactly(count), "big")
    if size > max_size:
        raise ProtocolViolation("BER message too large")
    return tag, await s.read_exactly(size)


def _naming_context(host: Host, ctx: LabContext) -> str:
    try:
        org = ctx.organisation_of(host)
        domain = org.primary_domain or (org.domains[0].name if org.domains else None)
    except KeyError:
        domain = None
    domain = domain or host.name.split(".", 1)[-1]
    return ",".join(f"dc={label}" for label in domain.split("."))


def ldap_root_dse(vendor_version: str, naming_context: str) -> dict[str, list[str]]:
    vendor = "389 Project" if vendor_version.startswith("389") else vendor_version.split("/")[0]
    return {
        "objectClass": ["top"],
        "namingContexts": [naming_context],
        "supportedLDAPVersion": ["2", "3"],
        "supportedSASLMechanisms": ["EXTERNAL", "GSS-SPNEGO", "GSSAPI", "DIGEST-MD5", "PLAIN"],
        "subschemaSubentry": ["cn=schema"],
        "vendorName": [vendor],
        "vendorVersion": [vendor_version],
    }


def _ldap_result(message_id: int, op: int, code: int, diagnostic: str = "") -> bytes:
    result = ber_int(code, 0x0A) + ber(0x04, b"") + ber(0x04, diagnostic.encode())
    return ber(0x30, ber_int(message_id) + ber(op, result))


def _ldap_entry(message_id: int, attributes: dict[str, list[str]], wanted: list[str]) -> bytes:
    wanted_lower = {w.lower() for w in wanted} - {"*", "+"}
    parts = b""
    for name, values in attributes.items():
        if wanted_lower and name.lower() not in wanted_lower:
            continue  # asked for other attributes, or for none at all ("1.1")
        vals = b"".join(ber(0x04, v.encode()) for v in values)
        parts += ber(0x30, ber(0x04, name.encode()) + ber(0x31, vals))
    entry = ber(0x04, b"") + ber(0x30, parts)
    return ber(0x30, ber_int(message_id) + ber(0x64, entry))


def ldap_search_reply(message_id: int, request: bytes, root: dict[str, list[str]]) -> bytes:
    """The messages that answer a searchRequest: the rootDSE, or the refusal of the rest."""
    fields = ber_items(request)
    base, scope = fields[0][1], int.from_bytes(fields[1][1], "big")
    if base == b"" and scope == 0:  # the root DSE: readable by anyone, by design
        wanted = [value.decode() for _, value in ber_items(fields[7][1])]
        done = _ldap_result(message_id, 0x65, _LDAP_SUCCESS)
        return _ldap_entry(message_id, root, wanted) + done
    # 389 DS with nsslapd-allow-anonymous-access: rootdse
    denied = "Anonymous access is not allowed."
    return _ldap_result(message_id, 0x65, _LDAP_INAPPROPRIATE_AUTH, denied)


def _ldap_bind(message_id: int, request: bytes) -> bytes:
    fields = ber_items(request)
    name, (auth_tag, credentials) = fields[1][1], fields[2]
    if name == b"" and auth_tag == 0x80 and credentials == b"":
        return _ldap_result(message_id, 0x61, _LDAP_SUCCESS)  # anonymous bind
    return _ldap_result(message_id, 0x61, _LDAP_INVALID_CREDENTIALS)


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    root = ldap_root_dse(banner(service), _naming_context(host, ctx))

    async def session(s: Session) -> None:
        for _ in range(MAX_REQUESTS):
            tag, content = await _read_ber(s)
            if tag != 0x30:
                return
            (_, raw_id), (op, request), *_ = ber_items(content)
            message_id = int.from_bytes(raw_id, "big", signed=True)
            if op == _LDAP_UNBIND:
                return
            if op == _LDAP_SEARCH:
                await s.send(ldap_search_reply(message_id, request, root))
            elif op == _LDAP_BIND:
                await s.send(_ldap_bind(message_id, request))
            elif op == _LDAP_EXTENDED:  # StartTLS among them: no TLS on this listener
                diagnostic = "unsupported extended operation"
                await s.send(_ldap_result(message_id, 0x78, _LDAP_PROTOCOL_ERROR, diagnostic))
            else:
                return

    return session
