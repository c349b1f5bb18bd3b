"""The dashboard for `make demo`: a demo login, then the app on 127.0.0.1 until Ctrl-C
(`utsyn.cli.demo` prints the login)."""

from __future__ import annotations

import secrets

from utsyn.clock import now_utc
from utsyn.store import users
from utsyn.store.db import open_session
from utsyn.web.security import hash_password

DEMO_EMAIL = "demo@utsyn.test"


def ensure_demo_user() -> tuple[str, int]:
    """A national administrator for the demo, with a fresh password each run (printed);
    the password and the user's id."""
    password = secrets.token_urlsafe(12)
    with open_session() as session:
        user = users.user_by_email(session, DEMO_EMAIL)
        if user is None:
            user = users.add_user(
                session, DEMO_EMAIL, hash_password(password), "national_admin", None, now_utc()
            )
        else:
            users.set_password_hash(session, user, hash_password(password))
        return password, user.id


def serve_dashboard(port: int, dns_servers: tuple[str, ...], dns_port: int) -> None:
    """The dashboard and the API on 127.0.0.1 until Ctrl-C; footprint verification asks
    `dns_servers` (the lab's name server)."""
    # The web app (FastAPI, Starlette, Jinja, uvicorn) costs several times the imports of the
    # store (python -X importtime: 7.3 s against 2.6 s on a loaded 2-core machine): only
    # `utsyn demo` pays for it, not every command that imports this module.
    import uvicorn

    from utsyn.web.app import create_app
    from utsyn.web.settings import WebSettings

    uvicorn.run(
        create_app(WebSettings(dns_servers=dns_servers, dns_port=dns_port)),
        host="127.0.0.1",
        port=port,
        server_header=False,
        log_level="warning",
        proxy_headers=False,  # X-Forwarded-* only from UTSYN_TRUSTED_PROXIES (`web.app`)
    )
