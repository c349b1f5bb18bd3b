"""`utsyn feeds`: update the vulnerability feeds and deliver the alerts they raise.

Mounted by `utsyn.cli` as `app.add_typer(feeds_app, name="feeds")`. Errors are
`UtsynError`s (`FeedError`, `ConfigError`), which `utsyn.cli.main` turns into a message and
an exit code.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from utsyn.settings import get_settings

feeds_app = typer.Typer(
    help="Vulnerability feeds: update them, and alert on what is new.", no_args_is_help=True
)
console = Console()

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="A folder laid out like the shipped snapshot, or a mirror's base URL "
        "(default: UTSYN_FEEDS_URL, else the snapshot shipped with Utsyn).",
    ),
]
DeliverOpt = Annotated[
    bool, typer.Option(help="Deliver pending alerts by webhook and e-mail afterwards.")
]


@feeds_app.command("update")
def update(where: FromOpt = None, deliver: DeliverOpt = True) -> None:
    """Download, verify and switch to new feed files; alert on newly exploited CVEs."""
    from utsyn.store.db import open_session
    from utsyn.vuln.alerts import DeliveryConfig, deliver_pending
    from utsyn.vuln.feeds import update_feeds

    settings = get_settings()
    config = DeliveryConfig.from_settings(settings)  # a bad setting fails before any download
    with open_session() as session:
        result = update_feeds(session, where, settings)
        if not result.switched:
            console.print(f"Feeds unchanged ({escape(result.source)}): still {result.generation}")
        else:
            console.print(
                f"Feeds updated from {escape(result.source)}: generation {result.generation} "
                f"({result.downloaded} of {len(result.files)} files downloaded)"
            )
            changes = result.changes
            console.print(
                f"New in KEV: {len(changes.new_kev)}, new CVEs: {len(changes.new_cves)}, "
                f"withdrawn: {len(changes.withdrawn)}; alerts created: {len(result.alert_ids)}"
            )
        if deliver and config.channels:
            report = deliver_pending(session, config)
            console.print(
                f"Alerts delivered: {report.delivered}, pending: {report.pending}, "
                f"failed: {report.failed}"
            )


@feeds_app.command("status")
def status() -> None:
    """The current feed generation: per feed, its files, records and date."""
    from utsyn.store.db import open_session
    from utsyn.store.feed_state import generation_files, generation_row
    from utsyn.vuln.feeds import current_generation, feeds_root

    name = current_generation(feeds_root(get_settings()))
    if name is None:
        console.print("No feed update yet: the snapshot shipped with Utsyn is in use.")
        return
    with open_session() as session:
        files = generation_files(session, name)
        row = generation_row(session, name)
    counts = row.counts if row is not None else {}
    table = Table("feed", "files", "records", "date", "downloaded", "bytes", title=name)
    for feed in sorted({f.feed for f in files}):
        mine = [f for f in files if f.feed == feed]
        table.add_row(
            feed,
            str(len(mine)),
            str(counts.get(feed, "?")),  # KEV's JSON and CSV hold the same entries
            max(f.file_date for f in mine).isoformat(),
            str(sum(f.fetched for f in mine)),
            str(sum(f.size for f in mine)),
        )
    console.print(table)
