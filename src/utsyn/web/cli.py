"""`utsyn serve` and `utsyn users ...`, mounted by `utsyn.cli`:

app.command("serve")(utsyn.web.cli.serve)
app.add_typer(utsyn.web.cli.users_app, name="users")
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from utsyn.errors import ConfigError

console = Console()
users_app = typer.Typer(help="Local accounts and their API tokens.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    certfile: Annotated[
        Path | None, typer.Option(help="TLS certificate chain (PEM): serve https.")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
) -> None:
    """Serve the dashboard and the REST API (behind a TLS proxy, or with --certfile)."""
    import uvicorn

    from utsyn.web.app import create_app

    if (certfile is None) != (keyfile is None):
        raise ConfigError("give both --certfile and --keyfile, or neither")
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        server_header=False,  # no product banner (the leakage rules would flag a version)
        proxy_headers=True,  # X-Forwarded-Proto from a local proxy makes cookies Secure
    )


@users_app.command("add")
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
) -> None:
    """Add a local account (the password is asked for, never given on the command line)."""
    from utsyn.clock import now_utc
    from utsyn.store import users
    from utsyn.store.db import open_session
    from utsyn.store.orgs import organisation
    from utsyn.web.security import MIN_PASSWORD_LENGTH, hash_password

    password = _read_password(password_stdin)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    with open_session() as session:
        org_id = organisation(session, org).id if org else None
        user = users.add_user(session, email, hash_password(password), role, org_id, now_utc())
        users.audit(session, "cli", "user:add", user.email, now_utc(), {"role": role})
    console.print(f"Added {escape(user.email)} ({role}).")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[int, typer.Option(help="Lifetime in days (0: no expiry).")] = 90,
) -> None:
    """Make an API token; it is printed this once (only its SHA-256 is kept)."""
    from datetime import timedelta

    from utsyn.clock import now_utc
    from utsyn.store import users
    from utsyn.store.db import open_session
    from utsyn.web.security import new_api_token

    with open_session() as session:
        user = users.user_by_email(session, email)
        if user is None:
            raise ConfigError(f"no user {email}")
        now = now_utc()
        token, digest = new_api_token()
        expires = now + timedelta(days=days) if days > 0 else None
        row = users.add_token(session, user, name, digest, now, expires)
        users.audit(session, "cli", "token:create", f"token/{row.id}", now)
    sys.stdout.write(token + "\n")
