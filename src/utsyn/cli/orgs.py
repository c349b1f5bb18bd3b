"""`utsyn orgs import`: organisations from a register's CSV, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, err_console, words
from utsyn.clock import now_utc
from utsyn.errors import ConfigError

if TYPE_CHECKING:
    from utsyn.store.importer import RowProblem

app = typer.Typer(help="Organisations and their footprints.", no_args_is_help=True)


@app.command("import")
def orgs_import(
    source: Annotated[Path, typer.Argument(help="CSV: Enhetsregisteret-style or native.")],
    lang: LangOpt = "nb",
) -> None:
    """Import organisations from CSV: all or nothing, with a report of bad rows.

    Native columns: orgnr, name, and any of sector, county, municipality, domains.
    A column the file leaves out stays as it is: orgnr,name,sector sets sectors
    (and names) only. A municipality brings its county. Domains are added, never
    removed; the first is the primary website (separate them by spaces or ;).
    County and municipality numbers are 2024's.

    Enhetsregisteret's columns: entityName, homepage, orgForm, orgDescr,
    municipality, orgNumber (every field is set).

    UTF-8, separated by commas, semicolons or tabs, as the header line shows.
    Any error (a bad row, a quote left open, text too long or with control
    characters) imports nothing.
    """
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.importer import import_organisations

    _ = words(lang)
    if not source.is_file():
        raise ConfigError("%(path)s: no such file", path=source)
    with open_session() as session:
        report = import_organisations(session, source, now_utc())
    for problem in report.errors[:50]:
        line = _("line %(line)s: %(reason)s", line=problem.line, reason=escape(_reason(_, problem)))
        err_console.print(f"  {line}", soft_wrap=True)
    for problem in report.flags[:50]:
        line = _(
            "line %(line)s (flag): %(reason)s",
            line=problem.line,
            reason=escape(_reason(_, problem)),
        )
        console.print(f"  {line}", soft_wrap=True)
    if not report.committed:
        raise ConfigError(
            "%(path)s: %(count)s bad row(s); nothing was imported (see above)",
            path=source,
            count=len(report.errors),
        )
    assert report.written is not None
    w = report.written
    console.print(
        _(
            "%(rows)s rows: %(created)s created, %(updated)s updated, %(unchanged)s unchanged; "
            "%(flagged)s flagged for review.",
            rows=report.rows,
            created=w.created,
            updated=w.updated,
            unchanged=w.unchanged,
            flagged=report.flagged_rows,
        )
    )


def _reason(words: Words, problem: RowProblem) -> str:
    """A row's problem in the command's language (its message id, then its values)."""
    return words(problem.message, **problem.values)
