"""Ingest errors. Their message is shown to admins as is, so it is always Simplified Chinese."""

from __future__ import annotations


class IngestError(Exception):
    """A file cannot be ingested; `str(exc)` is the Chinese reason (the store is left as it was)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
