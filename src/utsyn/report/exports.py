"""Findings as CSV and JSON, and vulnerabilities as STIX 2.1, streamed row by row.

`export` authorises and resolves the scope first (raising `ExportRefused` or `ConfigError`),
then returns a generator of text chunks: rows are read from the database in batches
(`yield_per`) and written one at a time, so an export of a million findings holds one batch
in memory, never all of them. Keep the session open until the generator is exhausted.

Every export records its scope, the time it was made and the rulebook version: in each CSV
row (so a row keeps its context when a spreadsheet is filtered), in the JSON header, and in
a STIX Note. Exports list open findings (not resolved), as the rating counts them today.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.i18n import checked_language
from utsyn.report.csvfile import CsvLines
from utsyn.report.scope import Caller, ExportMeta, Resolved, Scope, resolve
from utsyn.report.stix import check_tlp, vulnerability_bundle
from utsyn.rules.rulebook import Rulebook, load_rulebook
from utsyn.store.models import Finding, Organisation

Format = Literal["csv", "json", "stix"]
FORMATS: tuple[Format, ...] = ("csv", "json", "stix")
BATCH = 500  # rows fetched per round trip: the memory an export holds at once

META_COLUMNS = ("export_scope", "exported_at", "rulebook_version")
FINDING_COLUMNS = (
    "orgnr",
    "organisation",
    "sector",
    "county",
    "municipality",
    "rule",
    "factor",
    "severity",
    "title",
    "asset",
    "detail",
    "evidence",
    "first_seen",
    "last_seen",
    "key",
)


def export(
    session: Session,
    scope: Scope,
    caller: Caller,
    fmt: str,
    *,
    lang: str = "nb",
    tlp: str = "amber+strict",
    now: datetime | None = None,
    book: Rulebook | None = None,
) -> Iterator[str]:
    """Authorise, then stream the export as text chunks (encode them as UTF-8).

    Raises before returning: `ExportRefused` (the role may not), `ConfigError` (an unknown
    organisation, portfolio, format, language or TLP level).
    """
    resolved = resolve(session, scope, caller)
    book = book or load_rulebook()
    meta = ExportMeta(resolved.label, now or datetime.now(UTC), book.version)
    if fmt == "csv":
        return findings_csv(session, resolved, meta, book, checked_language(lang))
    if fmt == "json":
        return findings_json(session, resolved, meta, book, checked_language(lang))
    if fmt == "stix":
        return vulnerability_bundle(session, resolved, meta, check_tlp(tlp))
    raise ConfigError(
        "unknown export format %(format)r: %(choices)s", format=fmt, choices=", ".join(FORMATS)
    )


def open_findings(resolved: Resolved) -> Select[*tuple[Any, ...]]:
    """The scope's open findings with their organisation, in a stable order, streamed."""
    return (
        select(
            Organisation.orgnr,
            Organisation.name,
            Organisation.sector,
            Organisation.county,
            Organisation.municipality,
            Finding.key,
            Finding.rule,
            Finding.asset,
            Finding.detail,
            Finding.evidence,
            Finding.first_seen,
            Finding.last_seen,
        )
        .join(Organisation, Organisation.id == Finding.org_id)
        .where(resolved.orgs, Finding.resolved.is_(None))
        .order_by(Organisation.orgnr, Finding.key)
        .execution_options(yield_per=BATCH)  # column rows: no identity map to grow either
    )


def finding_record(row: Row[Any], book: Rulebook, lang: str) -> dict[str, Any]:
    known = book.has(row.rule)
    rule = book.rule(row.rule) if known else None
    return {
        "orgnr": row.orgnr,
        "organisation": row.name,
        "sector": row.sector or "",
        "county": row.county or "",
        "municipality": row.municipality or "",
        "rule": row.rule,
        "factor": str(rule.factor) if rule else "",
        "severity": str(rule.severity) if rule else "",
        "title": rule.title.get(lang) if rule else "",
        "asset": row.asset,
        "detail": row.detail,
        "evidence": row.evidence,
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "key": row.key,
    }


def findings_csv(
    session: Session, resolved: Resolved, meta: ExportMeta, book: Rulebook, lang: str
) -> Iterator[str]:
    """Every cell through `csvfile` (formula-looking text quoted): names and sectors come
    from imports, details and evidence from scanned servers."""
    lines = CsvLines()
    yield lines.line([*META_COLUMNS, *FINDING_COLUMNS])
    context = [meta.scope, meta.exported_at.isoformat(), meta.rulebook_version]
    for row in session.execute(open_findings(resolved)):
        record = finding_record(row, book, lang)
        yield lines.line([*context, *(record[name] for name in FINDING_COLUMNS)])


def findings_json(
    session: Session, resolved: Resolved, meta: ExportMeta, book: Rulebook, lang: str
) -> Iterator[str]:
    """One JSON document: {"export": {...}, "findings": [...], "count": n}, written piecewise."""
    header = {
        "format": "utsyn.findings/1",
        "scope": meta.scope,
        "exported_at": meta.exported_at.isoformat(),
        "rulebook_version": meta.rulebook_version,
        "lang": lang,
    }
    yield '{"export": ' + json.dumps(header) + ', "findings": [\n'
    count = 0
    for row in session.execute(open_findings(resolved)):
        record = json.dumps(finding_record(row, book, lang), ensure_ascii=False)
        yield (",\n" if count else "") + record
        count += 1
    yield f'\n], "count": {count}}}\n'
