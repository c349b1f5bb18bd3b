"""`utsyn feeds update|status`: the vulnerability feeds, and the alerts they raise.

Errors are `UtsynError`s (`FeedError`, `ConfigError`), which `utsyn.cli.main` turns into a
message and an exit code.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import console, table, words

app = typer.Typer(
    help="Vulnerability feeds: update them, and alert on what is new.", no_args_is_help=True
)

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


@app.command("update")
def update(where: FromOpt = None, deliver: DeliverOpt = True, lang: LangOpt = "nb") -> None:
    """Download, verify and switch to new feed files; alert on newly exploited CVEs."""
    # Lazy (start-up): the feeds, the alerts and the store cost ~850 ms CPU.
    from utsyn.settings import get_settings
    from utsyn.store.db import open_session
    from utsyn.vuln.alerts import DeliveryConfig, deliver_pending
    from utsyn.vuln.feeds import update_feeds

    _ = words(lang)
    settings = get_settings()
    config = DeliveryConfig.from_settings(settings)  # a bad setting fails before any download
    with open_session() as session:
        result = update_feeds(session, where, settings)
        if not result.switched:
            console.print(
                _(
                    "Feeds unchanged (%(source)s): still %(generation)s",
                    source=escape(result.source),
                    generation=result.generation,
                )
            )
        else:
            console.print(
                _(
                    "Feeds updated from %(source)s: generation %(generation)s (%(downloaded)s of "
                    "%(files)s files downloaded)",
                    source=escape(result.source),
                    generation=result.generation,
                    downloaded=result.downloaded,
                    files=len(result.files),
                )
            )
            changes = result.changes
            console.print(
                _(
                    "New in KEV: %(kev)s, new CVEs: %(cves)s, withdrawn: %(withdrawn)s; "
                    "alerts created: %(alerts)s",
                    kev=len(changes.new_kev),
                    cves=len(changes.new_cves),
                    withdrawn=len(changes.withdrawn),
                    alerts=len(result.alert_ids),
                )
            )
        if deliver and config.channels:
            report = deliver_pending(session, config)
            console.print(
                _(
                    "Alerts delivered: %(delivered)s, pending: %(pending)s, failed: %(failed)s",
                    delivered=report.delivered,
                    pending=report.pending,
                    failed=report.failed,
                )
            )


@app.command("status")
def status(lang: LangOpt = "nb") -> None:
    """The current feed generation: per feed, its files, records and date."""
    # Lazy (start-up): the feeds and the store cost ~850 ms CPU.
    from utsyn.settings import get_settings
    from utsyn.store.db import open_session
    from utsyn.store.feed_state import generation_files, generation_row
    from utsyn.vuln.feeds import current_generation, feeds_root

    _ = words(lang)
    name = current_generation(feeds_root(get_settings()))
    if name is None:
        console.print(_("No feed update yet: the snapshot shipped with Utsyn is in use."))
        return
    with open_session() as session:
        files = generation_files(session, name)
        row = generation_row(session, name)
    counts = row.counts if row is not None else {}
    shown = table(name, _("Feed"), _("Files"), _("Records"), _("Date"), _("Downloaded"), _("Bytes"))
    for feed in sorted({f.feed for f in files}):
        mine = [f for f in files if f.feed == feed]
        shown.add_row(
            feed,
            str(len(mine)),
            str(counts.get(feed, "?")),  # KEV's JSON and CSV hold the same entries
            max(f.file_date for f in mine).isoformat(),
            str(sum(f.fetched for f in mine)),
            str(sum(f.size for f in mine)),
        )
    console.print(shown)
