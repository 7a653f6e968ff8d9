"""Fixtures for ingest tests: the real packaged embedder (loaded once), a real Chroma store per test,
and builders for binary test files (PDF via reportlab's CID font, DOCX, XLSX)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlmodel import select

from core.config import EmbedderSettings, Settings
from core.db import init_db_sync, make_sync_engine, sync_session
from knowledge.embedder import Embedder, make_embedder
from knowledge.models import KbDepartment, KbRecord, KbSource
from knowledge.store import VectorStore


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The embedded default (USE multilingual from its wheel); ~1.3 s to load, so once per session."""
    return make_embedder(EmbedderSettings())


@pytest.fixture
def store(settings: Settings, embedder: Embedder) -> VectorStore:
    return VectorStore(settings, embedder)


class KB:
    """Reads what an ingest left in SQLite and Chroma, for assertions."""

    def __init__(self, settings: Settings, store: VectorStore) -> None:
        self.engine = make_sync_engine(settings.database_url)
        init_db_sync(self.engine)
        self.store = store

    def records(self, kind: str | None = None) -> list[KbRecord]:
        with sync_session(self.engine) as s:
            query = select(KbRecord)
            if kind:
                query = query.where(KbRecord.kind == kind)
            return list(s.exec(query).all())

    def ids(self) -> set[str]:
        return {r.id for r in self.records()}

    def sources(self) -> dict[str, KbSource]:
        with sync_session(self.engine) as s:
            return {src.name: src for src in s.exec(select(KbSource)).all()}

    def departments(self) -> dict[str, KbDepartment]:
        with sync_session(self.engine) as s:
            return {d.name: d for d in s.exec(select(KbDepartment)).all()}

    def snapshot(self) -> tuple[set[str], set[str], dict[str, str]]:
        """Everything an ingest could change: SQL ids, vector ids, and each source's hash."""
        return self.ids(), self.store.ids(), {n: s.sha256 for n, s in self.sources().items()}


@pytest.fixture
def kb(settings: Settings, store: VectorStore) -> KB:
    return KB(settings, store)


def write_pdf(path: Path, pages: Sequence[Sequence[str]], *, encrypt_user: str | None = None,
              encrypt_owner_only: bool = False) -> Path:
    """A Chinese PDF: reportlab's built-in CID font STSong-Light, one list of lines per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("测试政策PDF")
    for lines in pages:
        c.setFont("STSong-Light", 12)  # must be set again on each page
        y = 800
        for line in lines:
            c.drawString(60, y, line)
            y -= 20
        c.showPage()
    c.save()
    if encrypt_user is not None or encrypt_owner_only:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(str(path)))
        writer.encrypt(user_password="" if encrypt_owner_only else (encrypt_user or ""),
                       owner_password="owner-secret", algorithm="RC4-128")  # RC4 needs no extra crypto package
        with path.open("wb") as fh:
            writer.write(fh)
    return path


def write_docx(path: Path, title: str, blocks: Sequence[tuple[str, str]]) -> Path:
    """blocks: ("h1"/"h2"/"p", text) or ("table", "a|b;c|d")."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for kind, text in blocks:
        if kind in ("h1", "h2"):
            document.add_heading(text, level=int(kind[1]))
        elif kind == "table":
            rows = [r.split("|") for r in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
        else:
            document.add_paragraph(text)
    document.save(str(path))
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    first = True
    for name, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        ws.title = name
        first = False
        for row in rows:
            ws.append(row)
    wb.save(str(path))
    return path
