"""The zone (`scan.dns`): DNSSEC, CAA, zone transfers, dangling names, name server versions."""

from __future__ import annotations

from collections.abc import Iterator

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import VERSION_NUMBER, TargetView, by_value, each, flag

_DNSSEC = {
    "unsigned": Outcome.DNSSEC_MISSING,
    "broken": Outcome.DNSSEC_BROKEN,
    "signed": Outcome.DNSSEC_OK,
    "island": Outcome.DNSSEC_ISLAND,
    "cannot_validate": Outcome.DNSSEC_CANNOT_VALIDATE,
}


def name_server_versions(view: TargetView) -> Iterator[Hit]:
    """A name server that answers `version.bind` with a version number tells which CVEs
    apply to it; a refusal or a string without one ("none", "unknown") tells nothing."""
    for asset, o in view.assets_with("dns.ns_version"):
        answers = o.value if isinstance(o.value, dict) else {}
        telling = sorted(
            ns for ns, text in answers.items() if VERSION_NUMBER.search(str(text or ""))
        )
        hidden = Outcome.LEAK_DNS_VERSION_HIDDEN if answers else None  # no answer tells nothing
        yield from each(asset, o, telling, Outcome.LEAK_DNS_VERSION, hidden)


def dns_health(view: TargetView) -> Iterator[Hit]:
    yield from by_value(view, "dns.dnssec", _DNSSEC)
    yield from flag(view, "dns.caa", Outcome.CAA_MISSING, Outcome.CAA_OK, False)
    yield from flag(
        view, "dns.zone_transfer", Outcome.ZONE_TRANSFER, Outcome.ZONE_TRANSFER_REFUSED, True
    )
    for asset, o in view.assets_with("dns.dangling_cname"):
        names = o.value if isinstance(o.value, list) else []
        yield from each(asset, o, names, Outcome.DANGLING_CNAME, Outcome.DANGLING_NONE)
