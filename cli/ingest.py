"""`zhitong ingest PATH...`: import directory spreadsheets and policy files, print the change report.

Contract: docs/knowledge-contract.md. Progress goes to stderr, the report to stdout; the exit code is
1 when any file failed (the other files are still imported), else 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cli import settings_from

if TYPE_CHECKING:
    from core.config import Settings
    from ingest.pipeline import IngestReport


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("ingest")(ingest_command)


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="文件或文件夹（文件夹递归导入）", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="内容未变化的文件也重新导入")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出变更报告")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="不显示进度")] = False,
) -> None:
    """导入部门目录（.csv/.xlsx/.yaml）和政策文件（.pdf/.docx/.txt/.md/.html），输出变更报告。"""
    settings = settings_from(ctx)
    err = Console(stderr=True)
    try:
        report = _run(settings, paths, force=force, quiet=quiet, err=err)
    except KeyboardInterrupt:
        # Each file is written atomically, so an interruption loses at most the file in progress.
        err.print("已中断：已完成的文件均已保存，进行中的文件未写入；重新运行同一命令即可继续。")
        raise typer.Exit(code=130) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(report.summary_zh(max_lines=50))
    if report.failed:
        raise typer.Exit(code=1)


def _run(settings: Settings, paths: list[Path], *, force: bool, quiet: bool, err: Console) -> IngestReport:
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.pipeline import ingest_paths

    if quiet:
        return ingest_paths(settings, paths, force=force)
    else:
        with Progress(
            TextColumn("[bold]导入[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("准备中…", total=None)

            def progress(label: str, done: int, total: int) -> None:
                bar.update(task, description=label or "完成", completed=done, total=total or None)

            return ingest_paths(settings, paths, progress=progress, force=force)
