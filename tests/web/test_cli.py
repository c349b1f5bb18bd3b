"""`utsyn users add` and `utsyn users token` (mounted as in `utsyn.cli`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from utsyn.cli.users import app as users_app
from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.settings import get_settings
from utsyn.store import users
from utsyn.store.db import open_session
from utsyn.store.orgs import OrgRecord, upsert_organisations
from utsyn.web.security import check_password, token_hash

from .conftest import ORG_A

PASSWORD = "et langt nok passord"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    monkeypatch.setenv("UTSYN_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    with open_session() as session:
        record = OrgRecord(orgnr=ORG_A, name="Østmark fylkeskommune", domains=("ostmarkfk.test",))
        upsert_organisations(session, [record], "test", now_utc())
    app = typer.Typer()
    app.add_typer(users_app, name="users")
    yield app
    get_settings.cache_clear()


def test_users_add_then_token(cli: typer.Typer) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["users", "add", "Leder@Ostmarkfk.test", "--role", "org_admin", "--org", ORG_A,
         "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    made = runner.invoke(cli, ["users", "token", "leder@ostmarkfk.test", "--name", "ci"])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    with open_session() as session:
        user = users.user_by_email(session, "leder@ostmarkfk.test")
        assert user is not None and user.role == "org_admin"
        assert check_password(user.password_hash, PASSWORD)
        assert PASSWORD not in user.password_hash
        owner = users.user_by_token(session, token_hash(token), now_utc())
        assert owner is not None and owner.id == user.id


def test_roles_and_organisations_must_agree(cli: typer.Typer) -> None:
    runner = CliRunner()
    no_org = runner.invoke(
        cli, ["users", "add", "v@x.test", "--role", "org_viewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert isinstance(no_org.exception, ConfigError)
    short = runner.invoke(
        cli, ["users", "add", "n@x.test", "--role", "national_admin", "--password-stdin"],
        input="short\n",
    )  # fmt: skip
    assert isinstance(short.exception, ConfigError)
