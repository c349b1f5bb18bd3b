"""`utsyn db upgrade|export|import|prune`: the database's schema, copies and retention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import console, words
from utsyn.errors import ConfigError
from utsyn.files import open_private

app = typer.Typer(help="The database: migrations, export and import.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(lang: LangOpt = "nb") -> None:
    """Migrate the database (SQLite by default, UTSYN_DATABASE_URL otherwise) to the newest."""
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from sqlalchemy.engine import make_url

    from utsyn.store.db import database_url, open_session

    _ = words(lang)
    with open_session():
        pass
    safe = make_url(database_url()).render_as_string(hide_password=True)
    console.print(_("Database at the newest schema: %(url)s", url=escape(safe)))


@app.command("export")
def db_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="JSON lines file.")],
    lang: LangOpt = "nb",
) -> None:
    """Write every table as JSON lines (a full, restorable copy), with a trailer of row
    counts and a SHA-256 that `db import` verifies. The file is created 0600: it holds
    password and token hashes."""
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.dump import export_jsonl

    _ = words(lang)
    tmp = output.with_name(output.name + ".partial")
    tmp.unlink(missing_ok=True)  # a stale one would keep its mode
    with open_session() as session, open_private(tmp) as fp:
        rows = export_jsonl(session, fp)
    tmp.replace(output)  # a reader never sees half an export
    console.print(_("Exported %(rows)s rows to %(file)s.", rows=rows, file=escape(str(output))))


@app.command("import")
def db_import(
    source: Annotated[Path, typer.Argument(help="A file from `utsyn db export`.")],
    lang: LangOpt = "nb",
) -> None:
    """Load a JSON lines export into an empty database (all or nothing): verified first
    (row counts and SHA-256), so a dump that is cut or altered writes nothing."""
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.dump import import_jsonl

    _ = words(lang)
    if not source.is_file():
        raise ConfigError("%(path)s: no such file", path=source)
    with open_session() as session, source.open("rb") as fp:
        rows = import_jsonl(session, fp)
    console.print(_("Imported %(rows)s rows from %(file)s.", rows=rows, file=escape(str(source))))


@app.command("prune")
def db_prune(
    keep: Annotated[
        int, typer.Option("--keep", help="Scans kept per organisation and target (1 or more).")
    ] = 2,
    lang: LangOpt = "nb",
) -> None:
    """Delete old scan results: all but the newest scans of each target (findings, ratings
    and their history stay)."""
    # Lazy (start-up): sqlalchemy, alembic and the store cost ~600 ms CPU.
    from utsyn.store.db import open_session
    from utsyn.store.retention import prune_scans

    _ = words(lang)
    with open_session() as session:
        deleted = prune_scans(session, keep)
    console.print(
        _(
            "Deleted %(deleted)s old target scan(s); kept the newest %(keep)s of each target.",
            deleted=deleted,
            keep=keep,
        )
    )
