"""The files that hold Utsyn's data are its owner's only: the database (and its WAL), its
directory, dumps and exports, whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from utsyn.cli import app
from utsyn.settings import get_settings
from utsyn.store.db import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory that does not exist yet, under the usual umask (022)."""
    data = tmp_path / "home" / "utsyn"
    monkeypatch.setenv("UTSYN_DATA_DIR", str(data))
    monkeypatch.delenv("UTSYN_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    umask = os.umask(0o022)
    try:
        yield data
    finally:
        os.umask(umask)
        get_settings.cache_clear()


def _run(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def test_the_database_its_directory_dumps_and_exports_are_private(
    data_dir: Path, tmp_path: Path
) -> None:
    _run("db", "upgrade")
    database = data_dir / "utsyn.db"
    assert (_mode(data_dir.parent), _mode(data_dir), _mode(database)) == (0o700, 0o700, 0o600)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:  # a reader keeps the WAL from being folded back
            connection.execute(text("SELECT count(*) FROM organisation"))
            with engine.begin() as writer:
                writer.execute(text("CREATE TABLE probe (x INTEGER)"))
            assert _mode(Path(f"{database}-wal")) == 0o600
            assert _mode(Path(f"{database}-shm")) == 0o600
    finally:
        engine.dispose()

    dump = tmp_path / "dump.jsonl"
    _run("db", "export", "-o", str(dump))
    assert _mode(dump) == 0o600
    export = tmp_path / "national.csv"
    _run("report", "export", "--scope", "national", "--format", "csv", "-o", str(export))
    assert _mode(export) == 0o600


def _utsyn(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed command line, as an operator runs it (errors through `main`)."""
    command = [sys.executable, "-m", "utsyn", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_a_dump_round_trips_and_a_cut_one_is_refused_without_a_traceback(
    data_dir: Path, tmp_path: Path
) -> None:
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("orgnr,name,domains\n974760673,Bergen kommune,bergen.test\n", "utf-8")
    _run("orgs", "import", str(orgs))
    dump = tmp_path / "dump.jsonl"
    _run("db", "export", "-o", str(dump))
    lines = dump.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[:-1]))
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "other")}
    refused = _utsyn("db", "import", str(cut), "--lang", "en", env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "the dump is cut after line" in refused.stderr and "trailer" in refused.stderr
    norsk = _utsyn("db", "import", str(cut), env=env)
    assert "dumpen er kuttet etter linje" in " ".join(norsk.stderr.split())
    done = _utsyn("db", "import", str(dump), "--lang", "en", env=env)
    assert done.returncode == 0, done.stderr
    assert f"Imported {len(lines) - 2} rows" in done.stdout


def test_a_broken_csv_is_refused_with_its_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}
    source = tmp_path / "orgs.csv"
    source.write_text("orgnr,name\n974760673," + "x" * 131_073 + "\n", encoding="utf-8")
    refused = _utsyn("orgs", "import", str(source), "--lang", "en", env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "line 2: a field is longer than 131072 characters" in " ".join(refused.stderr.split())
