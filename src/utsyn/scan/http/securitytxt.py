"""security.txt (RFC 9116): whether the answer to /.well-known/security.txt is a file that
names a contact and has not expired."""

from __future__ import annotations

from datetime import UTC, datetime

from utsyn.scan.http.response import Response
from utsyn.scan.model import excerpt

SECURITY_TXT_PATH = "/.well-known/security.txt"


def security_txt_state(response: Response, now: datetime) -> tuple[str, str]:
    """("valid" | "expired" | "missing", why) for an answer to /.well-known/security.txt.

    RFC 9116: Contact and Expires are required and an expired file is not to be trusted. A
    file that lacks either is no security.txt at all: it says "missing", with the reason.
    """
    if response.status != 200:
        return "missing", f"status {response.status}"
    if response.is_html:
        return "missing", "an HTML page, not a security.txt"
    fields: dict[str, list[str]] = {}
    for line in response.body.decode("utf-8", "replace").splitlines()[:1000]:
        name, colon, value = line.partition(":")
        if colon and not line.startswith("#"):
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    if not fields.get("contact"):
        return "missing", "no Contact field"
    expires = fields.get("expires", [])
    if len(expires) != 1:
        return "missing", "no Expires field" if not expires else "more than one Expires field"
    when = _iso_datetime(expires[0])
    if when is None:
        return "missing", f"Expires is not an RFC 3339 date: {excerpt(expires[0], 80)}"
    return ("valid" if when > now else "expired"), f"Expires: {when.isoformat()}"


def _iso_datetime(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
