"""A domain's mail records (`scan.dns`): SPF, DMARC, DKIM, MTA-STS, TLS-RPT."""

from __future__ import annotations

from collections.abc import Iterator

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import TargetView, by_value, hit

_SPF = {
    "missing": Outcome.SPF_MISSING,
    "pass_all": Outcome.SPF_PASS_ALL,
    "neutral": Outcome.SPF_NEUTRAL,
    "too_many_lookups": Outcome.SPF_TOO_MANY_LOOKUPS,
    "multiple": Outcome.SPF_MULTIPLE,
    "invalid": Outcome.SPF_INVALID,
    "strict": Outcome.SPF_OK,
    "softfail": Outcome.SPF_OK,  # ~all with an enforcing DMARC policy is the common norm
}
_DMARC = {
    "missing": Outcome.DMARC_MISSING,
    "none": Outcome.DMARC_NONE,
    "malformed": Outcome.DMARC_MALFORMED,
    "quarantine": Outcome.DMARC_ENFORCED,
    "reject": Outcome.DMARC_ENFORCED,
}


def email_records(view: TargetView) -> Iterator[Hit]:
    yield from by_value(view, "dns.spf", _SPF)
    yield from by_value(view, "dns.dmarc", _DMARC)
    for asset, o in view.assets_with("dns.dkim"):
        keys = o.value if isinstance(o.value, dict) else {}
        if not keys:
            yield hit(Outcome.DKIM_NOT_FOUND, asset, o)
        elif min(keys.values()) < 2048:
            yield hit(Outcome.DKIM_WEAK_KEY, asset, o)
        else:
            yield hit(Outcome.DKIM_OK, asset, o)
    for asset, o in view.assets_with("dns.mta_sts"):
        if view.value(asset, "dns.mx") in (None, []):
            continue  # no mail, no transport policy to ask for
        outcome = {
            None: Outcome.MTA_STS_MISSING,
            "enforce": Outcome.MTA_STS_ENFORCED,
        }.get(o.value, Outcome.MTA_STS_NOT_ENFORCED)
        yield hit(outcome, asset, o)
    for asset, o in view.assets_with("dns.tls_rpt"):
        if view.value(asset, "dns.mx") not in (None, []):
            yield hit(Outcome.TLS_RPT_OK if o.value else Outcome.TLS_RPT_MISSING, asset, o)
