"""Exposed files: a Git checkout (/.git/HEAD), an environment file (/.env) and a directory
listing (/backup/), each confirmed by what the file looks like and by a random path that
does not look the same (the soft-404 baseline)."""

from __future__ import annotations

import re
from collections.abc import Callable

from utsyn.scan.http.response import Response

EXPOSURE_PATHS = {"git": "/.git/HEAD", "env": "/.env", "directory_listing": "/backup/"}


# Content signatures: what the real file looks like, whatever the status line claims.
_GIT_HEAD = re.compile(r"ref: refs/[^\s]+|[0-9a-f]{40}|[0-9a-f]{64}")
_ENV_LINE = re.compile(r"(export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*=.*")
_LISTING = re.compile(rb"<title>\s*Index of /|<h1>\s*Index of /", re.I)


def is_git_head(response: Response) -> bool:
    text = response.body[:200].decode("ascii", "replace").strip()
    return _GIT_HEAD.fullmatch(text) is not None


def is_dotenv(response: Response) -> bool:
    if response.is_html:
        return False
    lines = [
        line.strip()
        for line in response.body[:65536].decode("utf-8", "replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return bool(lines) and all(_ENV_LINE.fullmatch(line) for line in lines)


def is_listing(response: Response) -> bool:
    return _LISTING.search(response.body[:8192]) is not None


SIGNATURES: dict[str, Callable[[Response], bool]] = {
    "git": is_git_head,
    "env": is_dotenv,
    "directory_listing": is_listing,
}


def exposure_confirmed(
    candidate: Response, baseline: Response | None, signature: Callable[[Response], bool]
) -> bool:
    """A file is there when it answers 200 with its signature and a random path does not.

    The baseline catches servers that answer the same thing everywhere (a catch-all page,
    or a trap that echoes the signature to every path).
    """
    if candidate.status != 200 or not signature(candidate):
        return False
    if baseline is None or baseline.status != 200:
        return True
    return not signature(baseline) and baseline.body != candidate.body
