"""The files Utsyn writes that hold its data: readable by their owner only.

The database holds password and token hashes, dumps hold every row, exports name every
organisation's weaknesses: each is created 0600, and a directory Utsyn creates for them
0700, whatever the umask. Files and directories that exist already keep their modes (an
operator may have chosen them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, TextIO

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_directory(path: Path) -> None:
    """Create `path` and its missing parents, each 0700; an existing one is left as it is."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create `path` as an empty 0600 file in a private directory (`private_directory`) if it
    does not exist, for a library to open (SQLite: its -wal and -shm files follow its mode)."""
    private_directory(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        return
    os.chmod(path, FILE_MODE)


def open_private(path: Path) -> BinaryIO:
    """`path` opened for writing from its start, created 0600 if new."""
    return open(_descriptor(path), "wb")


def open_private_text(path: Path) -> TextIO:
    """`path` opened for writing UTF-8 text from its start (line ends as written), created
    0600 if new."""
    return open(_descriptor(path), "w", encoding="utf-8", newline="")


def write_private(path: Path, data: bytes) -> None:
    with open_private(path) as out:
        out.write(data)


def _descriptor(path: Path) -> int:
    created = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    if created:
        os.fchmod(descriptor, FILE_MODE)  # os.open's mode is filtered by the umask
    return descriptor
