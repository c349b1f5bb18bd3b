"""`utsyn users add|token`: local accounts and their API tokens."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, words
from utsyn.clock import now_utc
from utsyn.errors import ConfigError

app = typer.Typer(help="Local accounts and their API tokens.", no_args_is_help=True)


@app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The user's e-mail (their login).")],
    role: Annotated[
        str,
        typer.Option(help="national_admin, national_analyst, org_admin or org_viewer."),
    ],
    org: Annotated[
        str | None, typer.Option("--org", help="Organisation number (organisation roles).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    lang: LangOpt = "nb",
) -> None:
    """Add a local account (the password is asked for, never given on the command line)."""
    # Lazy (start-up): the store and the password hashing (argon2) cost ~830 ms CPU.
    from utsyn.store import users
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation
    from utsyn.web.security import MIN_PASSWORD_LENGTH, hash_password

    _ = words(lang)
    password = _read_password(password_stdin, _)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            "a password has at least %(length)s characters", length=MIN_PASSWORD_LENGTH
        )
    with open_session() as session:
        org_id = organisation(session, org).id if org else None
        user = users.add_user(session, email, hash_password(password), role, org_id, now_utc())
        users.audit(session, "cli", "user:add", user.email, now_utc(), {"role": role})
    console.print(_("Added %(email)s (%(role)s).", email=escape(user.email), role=role))


def _read_password(from_stdin: bool, _: Words) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    return password


@app.command("token")
def users_token(
    email: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[int, typer.Option(help="Lifetime in days (0: no expiry).")] = 90,
) -> None:
    """Make an API token; it is printed this once (only its SHA-256 is kept)."""
    # Lazy (start-up): the store and the web's security module cost ~830 ms CPU.
    from utsyn.store import users
    from utsyn.store.db import open_session
    from utsyn.web.security import new_api_token

    with open_session() as session:
        user = users.user_by_email(session, email)
        if user is None:
            raise ConfigError("no user %(email)s", email=email)
        now = now_utc()
        token, digest = new_api_token()
        expires = now + timedelta(days=days) if days > 0 else None
        row = users.add_token(session, user, name, digest, now, expires)
        users.audit(session, "cli", "token:create", f"token/{row.id}", now)
    sys.stdout.write(token + "\n")
