"""Zip bombs in .docx/.xlsx are refused from their declared sizes, before any parser inflates them.

The hostile files are generated here (never committed as blobs).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from core.config import Settings
from ingest.archives import check_archive
from ingest.errors import IngestError
from ingest.pipeline import ingest_paths


def _bomb(path: Path, member: str, megabytes: int) -> Path:
    """A small zip whose one member inflates to `megabytes` MB of zeros."""
    chunk = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w") as out:
            for _ in range(megabytes):
                out.write(chunk)
    return path


@pytest.mark.parametrize(("name", "member"), [("bomb.docx", "word/document.xml"), ("bomb.xlsx", "xl/worksheets/sheet1.xml")])
def test_a_zip_bomb_is_refused_and_changes_nothing(settings: Settings, tmp_path: Path, name: str, member: str) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    bomb = _bomb(folder / name, member, 64)
    assert bomb.stat().st_size < 1024 * 1024  # a small upload ...
    report = ingest_paths(settings, [bomb])
    assert report.records_added == 0 and not report.added
    assert len(report.failed) == 1 and "压缩炸弹" in report.failed[0][1]  # ... refused in Chinese


def test_members_over_the_total_are_refused_even_without_a_suspicious_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import archives

    monkeypatch.setattr(archives, "MAX_UNCOMPRESSED_BYTES", 8 * 1024 * 1024)  # the rule, at a test's scale
    path = tmp_path / "big.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # ratio 1: not a bomb
        for i in range(3):
            archive.writestr(f"word/media/image{i}.bin", bytes(range(256)) * (12 * 1024))  # 3 MB each
    with pytest.raises(IngestError, match="解压后共 9 MB，超过上限 8 MB"):
        check_archive(path, "Word")


def test_an_ordinary_docx_passes(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "ok.docx"
    document = docx.Document()
    document.add_paragraph("示范市稳岗返还办法：参保企业可申请。" * 50)
    document.save(str(path))
    check_archive(path, "Word")  # no exception
