"""`zhitong ask`, `zhitong eval`, `zhitong chat` and `zhitong demo`: the knowledge base from a terminal.

They all go through `KnowledgeService.ask`, the same code the bot uses.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli import settings_from
from core.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
EXIT_WORDS = {"退出", "再见", "结束", "exit", "quit", "q", ":q"}
MODES = ("hybrid", "dense", "lexical")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _open_service(settings: Settings) -> Any:
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from knowledge.service import KnowledgeService

    try:
        return KnowledgeService.open(settings)
    except Exception as exc:  # a broken store must end with a message, not a traceback
        err.print(f"[red]无法打开知识库：{exc}[/red]")
        raise typer.Exit(1) from exc


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        err.print(f"[red]--mode 只能是 {' / '.join(MODES)}，收到：{mode}[/red]")
        raise typer.Exit(2)
    return mode


DESK_WORDS = {"转人工", "/desk", "desk", "办不成事", "提交", "提交工单"}


def _print_answer(answer: Any, *, in_chat: bool = False) -> None:
    out.print(answer.text, markup=False)
    if answer.intent == "decline":
        return  # not a government matter: no desk offer
    if answer.route_to_desk:
        how = "输入“转人工”即可在这里提交" if in_chat else "用 zhitong chat 提问后输入“转人工”提交"
        out.print(
            f"\n[bold yellow]→ 建议转“办不成事”反映窗口[/bold yellow]：{how}"
            "（Telegram 机器人里点“转人工（办不成事）”或发送 /desk）"
        )


def _file_ticket(settings: Settings, question: str, answer: Any) -> str:
    """File the last question with the 办不成事 desk from the terminal; returns the ticket number."""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from desk.models import TicketCreate
    from desk.service import Desk
    from desk.states import Reason

    async def work() -> str:
        desk = await Desk.open(settings)
        try:
            ticket = await desk.create_ticket(TicketCreate(
                title=question[:60], description=question, department=answer.department or "",
                reason=Reason.OTHER.value, requester_name="终端用户",
                transcript=f"问：{question}\n答：{answer.text[:1000]}",
            ))
            return str(ticket.number)
        finally:
            await desk.aclose()

    return asyncio.run(work())


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="问题，例如：开饭店要办什么证？")],
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象（见 DESIGN.md）")] = False,
    mode: Annotated[str, typer.Option("--mode", help="hybrid | dense | lexical")] = "hybrid",
) -> None:
    """回答一个问题：找谁办、怎么办（引用来源）。"""
    settings = settings_from(ctx)
    service = _open_service(settings)
    try:
        answer = service.ask(question, mode=_check_mode(mode))  # type: ignore[arg-type]
    finally:
        service.close()
    if as_json:
        sys.stdout.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
    else:
        _print_answer(answer)


def evaluate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help='问题集 .jsonl：每行 {"q", "department", "route_to_desk"}')],
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
    mode: Annotated[str, typer.Option("--mode", help="hybrid | dense | lexical")] = "hybrid",
    show_misses: Annotated[bool, typer.Option("--misses", help="列出答错的问题")] = False,
) -> None:
    """在问题集上评测：hit@1、hit@3、MRR（部门）、转办判断准确率、p50/p95 延迟。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from knowledge.evaluation import EvalFileError, evaluate, load_eval_file

    settings = settings_from(ctx)
    mode = _check_mode(mode)
    try:
        items, warnings = load_eval_file(file)
    except EvalFileError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for warning in warnings:
        err.print(f"[yellow]{warning}[/yellow]")
    service = _open_service(settings)
    try:
        result = evaluate(
            items,
            lambda q, m: service.ask(q, mode=m),
            mode=mode,  # type: ignore[arg-type]
            canonical=service.canonical_department,
        )
    finally:
        service.close()
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return
    table = Table(title=f"评测结果：{file.name}（{mode}）")
    for column in ("问题数", "hit@1", "hit@3", "MRR", "转办准确率", "p50 毫秒", "p95 毫秒"):
        table.add_column(column, justify="right")
    data = result.to_json()
    table.add_row(
        *(str(data[k]) for k in ("n", "hit@1", "hit@3", "mrr", "routing_accuracy", "p50_ms", "p95_ms"))
    )
    out.print(table)
    if show_misses:
        for miss in result.misses:
            out.print(
                f"第 {miss['line']} 行：{miss['q']}\n  期望 {miss['expected'] or '—'}（转办={miss['route_expected']}），"
                f"得到 {'、'.join(miss['got']) or '—'}（转办={miss['route_got']}，置信度 {miss['confidence']}）",
                markup=False,
            )


def chat(ctx: typer.Context) -> None:
    """终端里和直通车对话（与机器人同一套回答代码）。输入“退出”结束。"""
    settings = settings_from(ctx)
    service = _open_service(settings)
    _chat_loop(service, settings)


def _chat_loop(service: Any, settings: Settings) -> None:
    stats = service.stats()
    retired = stats.get("not_current", 0)
    note = f"；另有 {retired} 条已失效、被替代或尚未生效的政策内容不作引用" if retired else ""
    out.print(
        f"[bold]政企直通车[/bold]：知识库有 {stats['records']} 条记录（{stats['files']} 个文件{note}）。"
        "请输入您的问题，例如“开饭店要办什么证？找哪个部门？”；输入“转人工”把上一个问题提交到“办不成事”窗口；"
        "输入“退出”结束。"
    )
    last: tuple[str, Any] | None = None
    try:
        while True:
            try:
                question = input("\n您的问题> ")
            except EOFError:
                break
            if question.strip().lower().lstrip("/") in EXIT_WORDS:  # /quit as in a chat app
                break
            if not question.strip():
                continue
            out.print()
            if question.strip().lower() in DESK_WORDS:
                if last is None:
                    out.print("请先描述您要办的事，再输入“转人工”提交。")
                    continue
                try:
                    number = _file_ticket(settings, *last)
                except Exception as exc:  # the desk must answer in Chinese, never with a traceback
                    err.print(f"[red]提交失败：{getattr(exc, 'message', exc)}[/red]")
                    continue
                out.print(f"已提交到“办不成事”反映窗口，工单号 {number}。服务专员会在工作时间内限时受理并跟进"
                          f"（工作人员：zhitong desk show {number} --as 工号）。")
                last = None
                continue
            answer = service.ask(question)
            _print_answer(answer, in_chat=True)
            if answer.intent != "decline":
                last = (question.strip(), answer)
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    out.print("\n再见！")


def demo(
    ctx: typer.Context,
    sample_dir: Annotated[Path, typer.Option("--sample-dir", help="示范城市数据目录")] = SAMPLE_DIR,
    no_chat: Annotated[bool, typer.Option("--no-chat", help="只导入，不进入对话")] = False,
) -> None:
    """导入示范城市（服务联络簿 + 政策文件，未变化的文件跳过），然后进入对话。"""
    settings = settings_from(ctx)
    paths = [sample_dir / "directory", sample_dir / "policies"]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        err.print(f"[red]找不到示范数据目录：{'、'.join(missing)}[/red]")
        raise typer.Exit(2)
    try:
        # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
        from ingest.pipeline import ingest_paths
    except ImportError as exc:
        err.print(f"[red]导入模块不可用：{exc}[/red]")
        raise typer.Exit(1) from exc

    def progress(label: str, done: int, total: int) -> None:
        if label:
            err.print(f"[dim]导入 {done + 1}/{total}：{label}[/dim]")

    out.print(f"正在导入示范城市数据（{sample_dir}）……")
    report = ingest_paths(settings, paths, progress=progress)
    out.print(report.summary_zh(), markup=False)
    if no_chat:
        return
    _chat_loop(_open_service(settings), settings)


def train_intent(
    ctx: typer.Context,
    holdout: Annotated[
        Path | None, typer.Option("--holdout", help='用于检验的样例 .jsonl（{"text", "family"}），不参与训练')
    ] = None,
) -> None:
    """重新训练意图模型（咨询 / 转办不成事 / 婉拒）：内置语料 + 本市样例（数据目录下 intent/*.jsonl）。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from knowledge.intent import CLASS_TO_INTENT, IntentCorpusError, corpus_files, load_examples

    settings = settings_from(ctx)
    if not settings.intent.enabled:
        err.print("[red]config.toml 中 intent.enabled = false，意图模型未启用。[/red]")
        raise typer.Exit(2)
    examples_dir = settings.resolve_in_data_dir(settings.intent.examples_dir)
    files = corpus_files(examples_dir)
    try:
        counts = {f.name: len(load_examples(f)) for f in files}
        held = load_examples(holdout) if holdout is not None else []
    except IntentCorpusError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    service = _open_service(settings)
    try:
        model = service.train_intent()
        if model is None:
            err.print("[red]没有找到意图语料，无法训练。[/red]")
            raise typer.Exit(1)
        for name, count in counts.items():
            out.print(f"语料 {name}：{count} 条")
        out.print(f"本市名称（事项、部门）作为咨询样例：{model.n_examples - sum(counts.values())} 条")
        out.print(f"已训练：共 {model.n_examples} 条样例，模型保存在 {settings.data_dir / 'intent_model.joblib'}")
        if held:
            vectors = service.embedder.embed_queries([e.text for e in held])
            probs = model.probabilities([e.text for e in held], vectors)
            right = sum(
                CLASS_TO_INTENT[max(p, key=p.__getitem__)] == CLASS_TO_INTENT[e.label]  # type: ignore[index]
                for e, p in zip(held, probs, strict=True)
            )
            out.print(f"检验集 {holdout.name if holdout else ''}：{len(held)} 条，意图准确率 {right / len(held):.3f}")
    finally:
        service.close()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("train-intent")(train_intent)
    app.command("ask")(ask)
    app.command("eval")(evaluate)
    app.command("chat")(chat)
    app.command("demo")(demo)
