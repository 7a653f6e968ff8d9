"""Hostile and oversized files, generated on demand (never committed as blobs).

Each generator writes one file into a folder and returns its path. They reproduce what the probes
sent (issue 10, items 17–22) at a size a test can afford; the rules they exercise do not depend on the
exact size (a wall-time or memory limit is lowered in the test instead of waiting minutes).
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    "{overrides}</Types>"
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _words(rng: random.Random, n: int) -> str:
    """Chinese-looking filler that does not compress like zeros (a plain, honest-looking file)."""
    return "".join(chr(0x4E00 + rng.randrange(0x51A5)) for _ in range(n))


def docx_with_paragraphs(folder: Path, paragraphs: int, name: str = "many-paragraphs.docx") -> Path:
    """A valid .docx whose body is `paragraphs` short paragraphs (the probe sent 40 million)."""
    path = folder / name
    rng = random.Random(5)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.format(
                overrides='<Override PartName="/word/document.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            ),
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        with archive.open("word/document.xml", "w") as out:
            out.write(f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'.encode())
            for _ in range(paragraphs):
                out.write(f"<w:p><w:r><w:t>{_words(rng, 8)}</w:t></w:r></w:p>".encode())
            out.write(b"</w:body></w:document>")
    return path


def xlsx_with_declared_size(folder: Path, rows: int, columns: int, name: str = "huge-dimension.xlsx") -> Path:
    """A tiny .xlsx whose sheet *declares* rows × columns (the probe: 200,000 × 16,384) and holds a few
    real cells: a reader that trusts the declared dimension walks billions of empty cells."""
    from openpyxl.utils import get_column_letter

    path = folder / name
    last = f"{get_column_letter(columns)}{rows}"
    cells = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>事项名称</t></is></c><c r="B1" t="inlineStr"><is><t>办理部门</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>食品经营许可</t></is></c><c r="B2" t="inlineStr"><is><t>市场监管局</t></is></c></row>'
        f'<row r="{rows}"><c r="{last}" t="inlineStr"><is><t>末格</t></is></c></row>'
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><dimension ref="A1:{last}"/><sheetData>{cells}</sheetData></worksheet>'
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.format(
                overrides='<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            ),
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships"><sheets><sheet name="事项" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def html_nested(folder: Path, depth: int, name: str = "nested.html") -> Path:
    """`depth` nested <div>s around one sentence (the probe: 100,000)."""
    path = folder / name
    path.write_text(
        "<html><head><title>嵌套</title></head><body>" + "<div>" * depth + "稳岗补贴按规定申领。"
        + "</div>" * depth + "</body></html>",
        encoding="utf-8",
    )
    return path


def long_text(folder: Path, megabytes: float, name: str = "long-regulation.txt") -> Path:
    """A legitimate long regulation: numbered articles of ordinary sentences, `megabytes` MB of UTF-8."""
    path = folder / name
    rng = random.Random(9)
    target = int(megabytes * 1024 * 1024)
    parts = ["示范市企业服务条例\n\n"]
    size = len(parts[0].encode())
    article = 1
    while size < target:
        body = "。".join(_words(rng, rng.randint(15, 40)) for _ in range(rng.randint(3, 8))) + "。"
        piece = f"第{article}条 {body}\n\n"
        parts.append(piece)
        size += len(piece.encode())
        article += 1
    path.write_text("".join(parts), encoding="utf-8")
    return path


def many_headings(folder: Path, headings: int, name: str = "many-headings.md") -> Path:
    """Markdown that is nothing but `headings` headings, each over one short line (the probe: 100,000 in
    3 MB became 100,000 records)."""
    path = folder / name
    path.write_text(
        "".join(f"## 第{i}节\n内容{i}。\n" for i in range(headings)), encoding="utf-8"
    )
    return path


# Hostile *parsers*: module-level (the sandbox sends them to its parser process by name) and light to
# import (that process has a memory limit of its own).
def hang(path: Path) -> None:
    import time

    time.sleep(60)


def allocate(path: Path) -> bytes:
    return b"x" * (4 * 1024 * 1024 * 1024)


def segfault(path: Path) -> None:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def refuse(path: Path) -> None:
    from ingest.errors import IngestError

    raise IngestError(f"{path.name}：自己的理由")


def recurse_too_deep(path: Path) -> None:
    raise RecursionError("maximum recursion depth exceeded")


def fine(path: Path) -> dict[str, str]:
    return {"name": path.name}
