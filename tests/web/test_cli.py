"""`utsyn users add` and `utsyn users token` (mounted as in `utsyn.cli`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from utsyn.cli.users import app as users_app
from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.i18n import error_text
from utsyn.settings import get_settings
from utsyn.store import users
from utsyn.store.db import open_session
from utsyn.store.models import AuditLog
from utsyn.store.orgs import OrgRecord, upsert_organisations
from utsyn.web.app import create_app
from utsyn.web.security import check_password, token_hash
from utsyn.web.settings import WebSettings

from .conftest import ORG_A, csrf_of, log_in

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
        owner = users.user_by_token(session, token_hash(token), now_utc(), timedelta(days=365))
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


def _add(runner: CliRunner, cli: typer.Typer, email: str, *options: str) -> None:
    added = runner.invoke(
        cli, ["users", "add", email, *options, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output


def test_common_and_guessable_passwords_are_refused_with_a_reason(cli: typer.Typer) -> None:
    runner = CliRunner()
    refused = {}
    weak = ("password1234", "aaaaaaaaaaaaaaaa", "Sommer2024!!", "leder@ostmarkfk", "Trondheim2025")
    for password in weak:
        answer = runner.invoke(
            cli,
            ["users", "add", "leder@ostmarkfk.test", "--role", "national_admin",
             "--password-stdin"],
            input=password + "\n",
        )  # fmt: skip
        assert isinstance(answer.exception, ConfigError), password
        refused[password] = answer.exception
    common = refused["password1234"]
    assert error_text(common, "nb") == "Dette passordet er et av de vanligste passordene."
    assert error_text(common, "en") == "This password is one of the most common passwords."
    assert "gjentar tegn eller ord" in error_text(refused["aaaaaaaaaaaaaaaa"], "nb")
    with open_session() as session:
        assert users.user_by_email(session, "leder@ostmarkfk.test") is None


def test_the_account_lifecycle_from_the_command_line(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_PUBLIC_URL", "https://utsyn.example")
    runner = CliRunner()
    _add(runner, cli, "admin@x.test", "--role", "national_admin")
    _add(runner, cli, "leder@ostmarkfk.test", "--role", "org_viewer", "--org", ORG_A)
    listed = runner.invoke(cli, ["users", "list", "--lang", "en"])
    assert "leder@ostmarkfk.test" in listed.output and ORG_A in listed.output
    role = runner.invoke(cli, ["users", "role", "leder@ostmarkfk.test", "--role", "org_admin"])
    assert role.exit_code == 0, role.output
    last = runner.invoke(cli, ["users", "disable", "admin@x.test"])
    assert isinstance(last.exception, ConfigError)  # the last enabled national admin
    assert runner.invoke(cli, ["users", "disable", "leder@ostmarkfk.test"]).exit_code == 0
    assert runner.invoke(cli, ["users", "enable", "leder@ostmarkfk.test"]).exit_code == 0
    # Every token expires: no "never", nothing past the maximum.
    for days in ("0", "366"):
        endless = runner.invoke(cli, ["users", "token", "leder@ostmarkfk.test", "--days", days])
        assert isinstance(endless.exception, ConfigError), days
    made = runner.invoke(cli, ["users", "token", "leder@ostmarkfk.test", "--name", "ci"])
    assert made.exit_code == 0, made.output
    tokens = runner.invoke(cli, ["users", "tokens", "leder@ostmarkfk.test"])
    with open_session() as session:
        user = users.find_user(session, "leder@ostmarkfk.test")
        (token,) = users.tokens_of(session, user)
    assert str(token.id) in tokens.output and "ci" in tokens.output
    revoked = runner.invoke(cli, ["users", "revoke-token", str(token.id), "--lang", "en"])
    assert revoked.output.strip() == f"Token {token.id} is revoked."
    reset = runner.invoke(cli, ["users", "reset", "leder@ostmarkfk.test"])
    link = reset.output.strip()
    assert link.startswith("https://utsyn.example/nytt-passord/")
    _use_the_link(tmp_path, link.removeprefix("https://utsyn.example"))
    deleted = runner.invoke(cli, ["users", "delete", "leder@ostmarkfk.test", "--yes"])
    assert deleted.exit_code == 0, deleted.output
    with open_session() as session:
        assert users.user_by_email(session, "leder@ostmarkfk.test") is None
        trail = [
            (row.actor, row.action)
            for row in session.scalars(select(AuditLog).order_by(AuditLog.id))
        ]
    assert [action for actor, action in trail if actor == "cli"] == [
        "user:add", "user:add", "user:role", "user:disable", "user:enable",
        "token:create", "token:revoke", "password:reset_link", "user:delete",
    ]  # fmt: skip
    assert ("leder@ostmarkfk.test", "password:reset") in trail


def _use_the_link(tmp_path: Path, path: str) -> None:
    """The printed link sets a new password in the web app on the same database, once."""
    settings = WebSettings(data_dir=tmp_path, secret_key="cli-test-" * 4)
    new = "tre ulike ord som ingen gjetter"
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        form = client.get(path)
        assert form.status_code == 200 and "leder@ostmarkfk.test" in form.text
        data = {"password": new, "again": new, "csrf_token": csrf_of(form.text)}
        assert client.post(path, data=data).status_code == 200
        assert client.get(path).status_code == 404  # spent
        log_in(client, "leder@ostmarkfk.test", new)
        assert client.get("/api/v1/me").json()["role"] == "org_admin"
