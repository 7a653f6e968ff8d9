"""Office files are zip archives: look at what they expand into before any parser opens them.

A 600 KB .docx whose document.xml inflates to gigabytes (a "zip bomb") hung ingest for minutes and could
take the machine's memory; python-docx and openpyxl inflate members whole. The sizes a zip declares are
enforced by zipfile while reading (a member cannot inflate beyond its declared size), so checking the
declared sizes and ratios first is enough to refuse it cheaply.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.errors import IngestError

# A real .docx/.xlsx of a few MB inflates to tens of MB; text-like XML compresses ~5–20×.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_MEMBER_RATIO = 200  # inflated / compressed, for members large enough to matter
RATIO_FLOOR_BYTES = 5 * 1024 * 1024
MAX_MEMBERS = 10_000


def check_archive(path: Path, kind: str) -> None:
    """Refuse (IngestError, Chinese) a zip-based office file that would inflate beyond sane bounds.

    `kind` names the format for the message ("Word", "Excel"). A file that is not a zip at all is left
    to the parser, which reports it as damaged.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if len(members) > MAX_MEMBERS:
        raise IngestError(f"{path.name}：{kind} 文件内部包含 {len(members)} 个部件，超过上限 {MAX_MEMBERS}，已拒绝导入")
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_MEMBER_RATIO * max(1, info.compress_size):
            raise IngestError(
                f"{path.name}：{kind} 文件中的「{info.filename}」解压后 {info.file_size // (1024 * 1024)} MB，"
                f"是压缩大小的 {info.file_size // max(1, info.compress_size)} 倍，疑似压缩炸弹，已拒绝导入"
            )
    if total > MAX_UNCOMPRESSED_BYTES:
        raise IngestError(
            f"{path.name}：{kind} 文件解压后共 {total // (1024 * 1024)} MB，超过上限 "
            f"{MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB，已拒绝导入"
        )
