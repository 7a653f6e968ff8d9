"""`zhitong staff passwd` sets a password the dashboard accepts; non-staff and weak passwords are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import _register_all, app
from dashboard.auth import verify_password
from dashboard.models import StaffCredential
from tests.dashboard.conftest import Db


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    if not any(c.name == "dashboard" for c in app.registered_commands):  # other tests may have done it
        _register_all()
    return CliRunner()


def _passwd_args(data_dir: Path) -> list[str]:
    names = [
        c.name
        for g in app.registered_groups
        if g.name == "staff" and g.typer_instance is not None
        for c in g.typer_instance.registered_commands
    ]
    command = ["staff", "passwd"] if "passwd" in names else ["staff-passwd"]
    return ["--data-dir", str(data_dir), *command]


def test_staff_passwd(cli: CliRunner, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    db.staff(1001, "王专员", password=None)
    args = _passwd_args(settings.data_dir)
    r = cli.invoke(app, [*args, "1001", "--password-stdin"], input="a-long-password\n")
    assert r.exit_code == 0, r.output
    assert "王专员" in r.output
    assert verify_password(db.get(StaffCredential, 1001).password_hash, "a-long-password")
    r = cli.invoke(app, [*args, "1001", "--password-stdin"], input="short\n")
    assert r.exit_code == 2 and "至少" in r.output
    r = cli.invoke(app, [*args, "999", "--password-stdin"], input="a-long-password\n")
    assert r.exit_code != 0 and "不是在职工作人员" in r.output
