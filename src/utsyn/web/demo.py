"""The dashboard for `make demo`: a demo login, then the app on 127.0.0.1 until Ctrl-C
(`utsyn.cli.demo` prints the login)."""

from __future__ import annotations

import secrets

from utsyn.clock import now_utc
from utsyn.store import users
from utsyn.store.db import open_session
from utsyn.web.security import hash_password

DEMO_EMAIL = "demo@utsyn.test"


def ensure_demo_user() -> str:
    """A national administrator for the demo, with a fresh password each run (printed)."""
    password = secrets.token_urlsafe(12)
    with open_session() as session:
        user = users.user_by_email(session, DEMO_EMAIL)
        if user is None:
            users.add_user(
                session, DEMO_EMAIL, hash_password(password), "national_admin", None, now_utc()
            )
        else:
            users.set_password_hash(session, user, hash_password(password))
    return password


def serve_dashboard(port: int) -> None:
    """The dashboard and the API on 127.0.0.1 until Ctrl-C."""
    # The web app (FastAPI, Starlette, Jinja, uvicorn) costs several times the imports of the
    # store (python -X importtime: 7.3 s against 2.6 s on a loaded 2-core machine): only
    # `utsyn demo` pays for it, not every command that imports this module.
    import uvicorn

    from utsyn.web.app import create_app

    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        server_header=False,
        log_level="warning",
        proxy_headers=False,  # X-Forwarded-* only from UTSYN_TRUSTED_PROXIES (`web.app`)
    )
