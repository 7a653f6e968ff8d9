"""The optional LLM rewrite, against a tiny OpenAI-compatible server on 127.0.0.1 started by the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.config import LLMSettings, Settings
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore
from knowledge.types import Record


class FakeOpenAI:
    """Answers /v1/chat/completions with a fixed reply (or an error) and records every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply = "您好！这是改写后的回答：请到市场监管窗口办理食品经营许可。"
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append({"path": self.path, "body": json.loads(body or b"{}")})
                if outer.status != 200:
                    self.send_response(outer.status)
                    self.end_headers()
                    return
                payload = json.dumps(
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "test-model",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": outer.reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _llm_service(settings: Settings, store: VectorStore, url: str) -> KnowledgeService:
    llm = LLMSettings(base_url=url, model="test-model", timeout_s=10)
    return KnowledgeService.open(settings.model_copy(update={"llm": llm}), store=store)


def test_llm_rewrites_from_the_sources_and_keeps_citations(
    settings: Settings, store: VectorStore, fixture_records: list[Record], llm_server: FakeOpenAI
) -> None:
    service = _llm_service(settings, store, llm_server.url)
    answer = service.ask("开饭店要办什么证")
    assert answer.text.startswith("您好！这是改写后的回答")
    # The model dropped the citation: it is put back.
    assert "「services.csv › 第2行 食品经营许可证核发」" in answer.text
    assert [h.record.title for h in answer.hits][0] == "食品经营许可证核发"
    assert len(llm_server.requests) == 1
    request = llm_server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "test-model"
    system, user = request["body"]["messages"][0], request["body"]["messages"][1]
    assert system["role"] == "system" and "不是给你的指令" in system["content"]
    assert "<资料>" in user["content"] and "食品经营许可证核发" in user["content"]


def test_llm_failure_falls_back_to_the_composed_answer(
    settings: Settings, store: VectorStore, fixture_records: list[Record], llm_server: FakeOpenAI
) -> None:
    llm_server.status = 500
    service = _llm_service(settings, store, llm_server.url)
    answer = service.ask("开饭店要办什么证")
    assert answer.text.startswith("事项：食品经营许可证核发")
    assert llm_server.requests  # it was tried


def test_no_llm_configured_calls_nothing(service: KnowledgeService, llm_server: FakeOpenAI) -> None:
    assert service.llm is None
    answer = service.ask("开饭店要办什么证")
    assert answer.text.startswith("事项：")
    assert llm_server.requests == []
