"""`utsyn users …`: local accounts, their lifecycle and their API tokens.

add, list, role, disable, enable, delete, reset (prints a one-time link that sets a new
password), token (prints a new token), tokens (lists an account's), revoke-token. Every
change is audited with the actor `cli`; the web's rules apply (`web.accounts`): the password
policy, every token expiring within `UTSYN_TOKEN_MAX_DAYS`, and never leaving Utsyn without
an enabled national administrator.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, table, words
from utsyn.clock import now_utc
from utsyn.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from utsyn.store.models import User
    from utsyn.web.settings import WebSettings

app = typer.Typer(
    help="Local accounts, their lifecycle and their API tokens.", no_args_is_help=True
)

ACTOR = "cli"
EmailArg = Annotated[str, typer.Argument(help="The user's e-mail (their login).")]
RoleOpt = Annotated[
    str, typer.Option(help="national_admin, national_analyst, org_admin or org_viewer.")
]
OrgOpt = Annotated[
    str | None, typer.Option("--org", help="Organisation number (organisation roles).")
]


@contextmanager
def _database() -> Iterator[Session]:
    from utsyn.store.db import open_session

    with open_session() as session:
        yield session


def _settings() -> WebSettings:
    from utsyn.web.settings import WebSettings

    return WebSettings()


def _user(session: Session, email: str) -> User:
    from utsyn.store import users

    return users.find_user(session, email)


@app.command("add")
def users_add(
    email: EmailArg,
    role: RoleOpt,
    org: OrgOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    lang: LangOpt = "nb",
) -> None:
    """Add a local account (the password is asked for, never given on the command line)."""
    from utsyn.store import users
    from utsyn.store.orgs import organisation
    from utsyn.web.passwords import check_password
    from utsyn.web.security import hash_password

    _ = words(lang)
    password = _read_password(password_stdin, _)
    check_password(password, email)
    with _database() as session:
        org_id = organisation(session, org).id if org else None
        user = users.add_user(
            session, email, hash_password(password), role, org_id, now_utc(), ACTOR
        )
    console.print(_("Added %(email)s (%(role)s).", email=escape(user.email), role=role))


def _read_password(from_stdin: bool, _: Words) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    return password


@app.command("list")
def users_list(lang: LangOpt = "nb") -> None:
    """Every account: e-mail, role, organisation, whether it is disabled."""
    from utsyn.store import users
    from utsyn.store.models import Organisation

    _ = words(lang)
    shown = table(None, _("E-mail"), _("Role"), _("Organisation number"), _("Access"))
    with _database() as session:
        for user in users.list_users(session, 1_000_000, 0)[0]:
            org = session.get(Organisation, user.org_id) if user.org_id is not None else None
            status = _("Disabled") if user.disabled else _("Enabled")
            shown.add_row(escape(user.email), user.role, org.orgnr if org else "", status)
    console.print(shown)


@app.command("role")
def users_role(email: EmailArg, role: RoleOpt, org: OrgOpt = None, lang: LangOpt = "nb") -> None:
    """Give the account another role (and organisation)."""
    from utsyn.web.accounts import change_role

    _ = words(lang)
    with _database() as session:
        user = _user(session, email)
        change_role(session, user, role, org, ACTOR, now_utc())
    console.print(_("%(email)s is now %(role)s.", email=escape(user.email), role=role))


@app.command("disable")
def users_disable(email: EmailArg, lang: LangOpt = "nb") -> None:
    """Disable the account: no login; its sessions and tokens stop working at once."""
    _set_disabled(email, True, words(lang))


@app.command("enable")
def users_enable(email: EmailArg, lang: LangOpt = "nb") -> None:
    """Enable a disabled account again."""
    _set_disabled(email, False, words(lang))


def _set_disabled(email: str, disabled: bool, _: Words) -> None:
    from utsyn.store import users

    with _database() as session:
        user = _user(session, email)
        users.set_disabled(session, user, disabled, ACTOR, now_utc())
    if disabled:
        console.print(_("%(email)s is disabled.", email=escape(user.email)))
    else:
        console.print(_("%(email)s is enabled.", email=escape(user.email)))


@app.command("delete")
def users_delete(
    email: EmailArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    lang: LangOpt = "nb",
) -> None:
    """Delete the account, its tokens and its portfolios (the audit log keeps its e-mail)."""
    from utsyn.store import users

    _ = words(lang)
    if not yes and not typer.confirm(_("Delete %(email)s?", email=email)):
        raise typer.Exit(1)
    with _database() as session:
        user = _user(session, email)
        users.delete_user(session, user, ACTOR, now_utc())
    console.print(_("%(email)s is deleted.", email=escape(user.email)))


@app.command("reset")
def users_reset(email: EmailArg) -> None:
    """Print a one-time link that sets a new password (valid UTSYN_PASSWORD_RESET_HOURS;
    earlier links of the account stop working). Starts with UTSYN_PUBLIC_URL."""
    from utsyn.web.accounts import reset_link

    with _database() as session:
        url, _expires = reset_link(session, _settings(), _user(session, email), ACTOR, now_utc())
    sys.stdout.write(url + "\n")


@app.command("token")
def users_token(
    email: EmailArg,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[
        int, typer.Option(help="Lifetime in days (at most UTSYN_TOKEN_MAX_DAYS, 365).")
    ] = 90,
) -> None:
    """Make an API token; it is printed this once (only its SHA-256 is kept)."""
    from utsyn.web.accounts import make_token

    if not name.strip() or len(name) > 100 or "\x00" in name:
        raise ConfigError("a token name has 1 to 100 characters")
    with _database() as session:
        user = _user(session, email)
        token, _row = make_token(session, _settings(), user, name, days, ACTOR, now_utc())
    sys.stdout.write(token + "\n")


@app.command("tokens")
def users_tokens(email: EmailArg, lang: LangOpt = "nb") -> None:
    """The account's API tokens (their ids, for revoke-token)."""
    from utsyn.store import users

    _ = words(lang)
    shown = table(None, _("Token id"), _("Name"), _("Created"), _("Expires"), _("Last used"))
    with _database() as session:
        for token in users.tokens_of(session, _user(session, email)):
            used = token.last_used.strftime("%Y-%m-%d %H:%M") if token.last_used else ""
            shown.add_row(
                str(token.id),
                escape(token.name),
                token.created.strftime("%Y-%m-%d %H:%M"),
                token.expires.strftime("%Y-%m-%d %H:%M"),
                used,
            )
    console.print(shown)


@app.command("revoke-token")
def users_revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `utsyn users tokens`).")],
    lang: LangOpt = "nb",
) -> None:
    """Revoke any API token."""
    from utsyn.store import users

    _ = words(lang)
    with _database() as session:
        if not users.revoke_token(session, token_id, None, ACTOR, now_utc()):
            raise ConfigError("no token %(id)s", id=token_id)
    console.print(_("Token %(id)s is revoked.", id=token_id))
