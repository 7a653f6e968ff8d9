"""Paths an admin may name: badly encoded file names, symlink loops, pipes — reported, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

from core.config import Settings
from ingest.pipeline import ingest_paths

POLICY = "# 示范市稳岗返还办法\n\n一、对象\n参保企业可申请稳岗返还。\n"


def test_a_file_name_that_is_not_utf8_is_reported_and_the_folder_still_imports(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "稳岗.md").write_text(POLICY, encoding="utf-8")
    bad = os.fsencode(folder) + b"/\xb2\xbb\xca\xc7utf8.md"  # a GBK name on a UTF-8 file system
    with open(bad, "wb") as fh:
        fh.write(POLICY.replace("稳岗返还", "社保补贴").encode("utf-8"))
    report = ingest_paths(settings, [folder])
    assert report.added == ["稳岗.md"] and report.records_added > 0
    assert len(report.failed) == 1 and "UTF-8" in report.failed[0][1]
    report.summary_zh().encode("utf-8")  # printable: no surrogates left in the report


def test_a_symlink_loop_and_a_pipe_are_reported(settings: Settings, tmp_path: Path) -> None:
    loop = tmp_path / "loop.md"
    loop.symlink_to(tmp_path / "loop.md")
    pipe = tmp_path / "pipe.md"
    os.mkfifo(pipe)
    report = ingest_paths(settings, [loop, pipe])
    assert report.records_added == 0
    messages = dict(report.failed)
    assert any("符号链接" in m for m in messages.values())
    assert messages.get("pipe.md", "").startswith("不是普通文件")


def test_a_pipe_inside_a_folder_is_skipped_not_waited_on(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "稳岗.md").write_text(POLICY, encoding="utf-8")
    os.mkfifo(folder / "管道.md")  # opening it for reading would block forever
    report = ingest_paths(settings, [folder])
    assert report.added == ["稳岗.md"]
    assert any("不是普通文件" in why for _, why in report.ignored)


def test_a_department_lives_while_any_file_defines_it(settings: Settings, tmp_path: Path) -> None:
    from sqlmodel import select

    from core.db import make_sync_engine, sync_session
    from knowledge.models import KbDepartment

    city = tmp_path / "directory"
    city.mkdir()
    (city / "departments.csv").write_text("部门,电话\n示范市财政局,0740-1\n示范市人社局,0740-2\n", encoding="utf-8")
    extra = city / "补充部门.csv"
    extra.write_text("部门,电话\n示范市财政局,0740-9\n", encoding="utf-8")
    assert not ingest_paths(settings, [city]).failed
    extra.unlink()  # the second definition goes away; departments.csv still defines 财政局
    ingest_paths(settings, [city])
    engine = make_sync_engine(settings.database_url)
    with sync_session(engine) as session:
        names = {d.name for d in session.exec(select(KbDepartment)).all()}
    engine.dispose()
    assert names == {"示范市财政局", "示范市人社局"}
    (city / "services.csv").write_text("事项名称,办理部门\n政府采购投诉处理,示范市财政局\n", encoding="utf-8")
    report = ingest_paths(settings, [city])
    assert not report.row_errors and report.records_added == 1  # its items are still accepted


def _policy(path: Path, title: str, supersedes: str = "") -> None:
    extra = f"supersedes: [{supersedes}]\n" if supersedes else ""
    path.write_text(f"---\ntitle: {title}\n{extra}---\n# {title}\n\n一、内容\n{title}的具体规定。\n", encoding="utf-8")


def test_supersession_is_reported_and_mass_or_self_supersession_refused(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    for n in ("甲", "乙", "丙"):
        _policy(folder / f"{n}.md", f"{n}办法")
    assert not ingest_paths(settings, [folder]).failed

    _policy(folder / "丁.md", "丁办法", "甲.md, 乙.md, 丙.md")  # retires every current policy
    report = ingest_paths(settings, [folder / "丁.md"])
    assert report.records_added == 0 and "疑似误操作" in report.failed[0][1] and "--force" in report.failed[0][1]

    _policy(folder / "丁.md", "丁办法", "丁办法")
    assert "指向了文件自己" in ingest_paths(settings, [folder / "丁.md"]).failed[0][1]

    _policy(folder / "丁.md", "丁办法", "甲.md")
    report = ingest_paths(settings, [folder / "丁.md"])
    assert not report.failed and report.superseded == [("丁.md", ["甲.md"])]
    assert "丁.md 替代 甲.md" in report.summary_zh()

    _policy(folder / "戊.md", "戊办法", "乙.md, 丙.md, 丁.md")
    forced = ingest_paths(settings, [folder / "戊.md"], force=True)
    assert not forced.failed and forced.superseded == [("戊.md", ["丁.md", "丙.md", "乙.md"])]
