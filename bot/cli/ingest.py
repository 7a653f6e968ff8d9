"""CLI commands (placeholder until its issue lands). Contract: docs/knowledge-contract.md."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
