"""The README must stay current with the configuration: every config.toml key is documented."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

from tests.conftest import REPO_ROOT


def _keys(table: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_every_config_key_is_in_the_readme_configuration_table() -> None:
    config = tomllib.loads((REPO_ROOT / "config.toml").read_text(encoding="utf-8"))
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table_rows = [line for line in section.splitlines() if line.startswith("| `")]
    missing = []
    for dotted in _keys(config):
        table, _, key = dotted.rpartition(".")
        # Rows may group related keys: "| `desk.workday_start` / `workday_end` | ...".
        documented = any(
            f"`{dotted}`" in row or (f"`{table}." in row and f"`{key}`" in row) for row in table_rows
        )
        if not documented:
            missing.append(dotted)
    assert not missing, f"config keys missing from README's Configuration table: {missing}"


def test_readme_starts_with_the_run_and_test_commands() -> None:
    head = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:6]
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(line.split("#")[0].strip() for line in head if "scripts/test.sh" in line)
    assert test_command in ci
    assert any("zhitong demo" in line for line in head)
