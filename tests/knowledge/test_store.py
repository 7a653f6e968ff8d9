"""VectorStore over real Chroma: embedded PersistentClient and a real `chroma run` server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.config import Settings, load_settings
from knowledge.embedder import Embedder
from knowledge.store import VectorStore, collection_name
from knowledge.types import Record


def _rec(i: int, text: str, kind: str = "service", dept: str = "示范市税务局") -> Record:
    return Record(id=f"{i:032d}", kind=kind, title=text[:8], department=dept, text=text, citation=f"f › {i}")  # type: ignore[arg-type]


RECORDS = [
    _rec(1, "增值税发票申领：经办人身份证件、发票领用簿"),
    _rec(2, "食品经营许可证核发：开饭店、餐饮服务", dept="示范市市场监督管理局"),
    _rec(3, "稳岗补贴按失业保险费的60%返还", kind="policy", dept="示范市人力资源和社会保障局"),
    _rec(4, "示范市生态环境局 环评审批科", kind="department", dept="示范市生态环境局"),
]


_OTHER_PROCESS_WRITES = """
import sys
import numpy as np
from core.config import load_settings
from knowledge.store import VectorStore
from knowledge.types import Record

class Fixed:  # the same name and dimension as the test's embedder: the same collection
    name, dimension = sys.argv[2], int(sys.argv[3])

store = VectorStore(load_settings(data_dir=sys.argv[1]), Fixed())
record = Record(id="9" * 32, kind="policy", title="新政", department="示范市工业和信息化局", text="新政",
                citation="new.md")
store.upsert_embeddings([record], np.asarray([[float(x) for x in sys.argv[4].split(",")]]))
"""


def test_refresh_sees_what_another_process_wrote(settings: Settings, use_embedder: Embedder) -> None:
    store = VectorStore(settings, use_embedder)
    store.upsert(RECORDS)
    question = use_embedder.embed_query("工业机器人购置补贴")
    assert store.query_embedding(question, 10)  # this process has read the index
    # `zhitong ingest` / the dashboard in another process adds a vector right where the question points.
    subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS_WRITES, str(settings.data_dir), use_embedder.name,
         str(use_embedder.dimension), ",".join(str(float(x)) for x in question)],
        check=True, cwd=Path(__file__).resolve().parents[2], timeout=120,
    )
    new_id = "9" * 32
    assert new_id not in [i for i, _ in store.query_embedding(question, 10)]  # the stale in-memory index
    store.refresh()
    assert store.query_embedding(question, 10)[0][0] == new_id
    store.upsert(RECORDS[:1])  # and the refreshed store still writes
    assert store.count() == 5


def test_upsert_query_delete_and_persist(settings: Settings, use_embedder: Embedder) -> None:
    store = VectorStore(settings, use_embedder)
    assert store.count() == 0 and store.query("发票", 5) == []
    store.upsert(RECORDS)
    store.upsert(RECORDS[:1])  # idempotent
    assert store.count() == 4
    assert store.ids() == {r.id for r in RECORDS}
    hits = store.query("开饭店要办什么证", 4)
    assert hits[0][0] == RECORDS[1].id
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert -1.0 <= hits[-1][1] <= hits[0][1] <= 1.0
    assert [i for i, _ in store.query("补贴", 5, kinds=["policy"])] == [RECORDS[2].id]
    assert {i for i, _ in store.query("补贴", 5, kinds={"policy", "department"})} == {
        RECORDS[2].id,
        RECORDS[3].id,
    }
    store.delete([RECORDS[0].id])
    assert store.count() == 3
    # A new client on the same directory sees the same vectors (PersistentClient).
    again = VectorStore(settings, use_embedder)
    assert again.ids() == {r.id for r in RECORDS[1:]}


def test_collection_per_embedder_never_mixes(settings: Settings, use_embedder: Embedder) -> None:
    from tests.knowledge.conftest import HashEmbedder

    VectorStore(settings, use_embedder).upsert(RECORDS)
    other = VectorStore(settings, HashEmbedder())
    assert other.name != VectorStore(settings, use_embedder).name
    assert other.count() == 0


def test_collection_name_is_valid_for_chroma() -> None:
    assert collection_name("zhitong_kb", "use-multilingual-v3") == "zhitong_kb__use-multilingual-v3"
    odd = collection_name("知识库", "st-bge/small zh")
    assert 3 <= len(odd) <= 512 and odd[0].isalnum() and odd[-1].isalnum()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real Chroma server (`chroma run`) on localhost, stopped after the test."""
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "srv"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "chroma server exited"
            assert time.monotonic() < deadline, "chroma server did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_http_client_when_vector_url_is_set(
    tmp_path: Path, chroma_server: str, use_embedder: Embedder
) -> None:
    settings = load_settings(data_dir=tmp_path / "var", vector={"url": chroma_server})
    store = VectorStore(settings, use_embedder)
    store.upsert(RECORDS)
    assert store.count() == 4
    assert store.query("开饭店", 1)[0][0] == RECORDS[1].id
    assert not settings.chroma_path.exists()  # nothing embedded was created
