"""`utsyn serve`: the dashboard and the REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from utsyn.errors import ConfigError


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    certfile: Annotated[
        Path | None, typer.Option(help="TLS certificate chain (PEM): serve https.")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
) -> None:
    """Serve the dashboard and the REST API (behind a TLS proxy, or with --certfile)."""
    # Lazy (start-up): the web application (FastAPI, the store) costs ~1,900 ms CPU.
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
        # The app believes X-Forwarded-* from UTSYN_TRUSTED_PROXIES only (`web.app`); uvicorn's
        # own handling would believe any client on 127.0.0.1.
        proxy_headers=False,
    )
