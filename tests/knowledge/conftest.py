"""Fixtures for retrieval/answering tests: the real packaged embedder (once per session), real Chroma
and real SQLite per test, the hand-written fixture KB, and a deterministic fake embedder for the
fusion-logic unit tests only."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from core.config import EmbedderSettings, Settings
from knowledge.embedder import Embedder, make_embedder
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore
from knowledge.types import Record
from tests.knowledge.kbfixture import seed


@pytest.fixture(scope="session")
def use_embedder() -> Embedder:
    """The embedded default: USE multilingual from its wheel (~1.3 s to load)."""
    return make_embedder(EmbedderSettings())


@pytest.fixture
def store(settings: Settings, use_embedder: Embedder) -> VectorStore:
    return VectorStore(settings, use_embedder)


@pytest.fixture
def fixture_records(settings: Settings, store: VectorStore) -> list[Record]:
    return seed(settings, store)


@pytest.fixture
def service(
    settings: Settings, store: VectorStore, fixture_records: list[Record]
) -> Iterator[KnowledgeService]:
    svc = KnowledgeService.open(settings, store=store)
    yield svc
    svc.close()


class HashEmbedder:
    """Deterministic fake: a text's vector is derived from sha256 of its characters (bag of chars).

    Texts sharing characters get similar vectors, which is all the fusion tests need.
    """

    name = "fake-hash"
    dimension = 64

    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for ch in text:
                out[i, hashlib.sha256(ch.encode()).digest()[0] % self.dimension] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)


@pytest.fixture(scope="module")
def shared_service(
    tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder
) -> Iterator[KnowledgeService]:
    """One seeded fixture KB per test module, for tests that only ask (seeding costs ~1.5 s)."""
    from core.config import load_settings

    data_dir = tmp_path_factory.mktemp("kb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZHITONG_CONFIG", str(data_dir / "absent-config.toml"))
        settings = load_settings(data_dir=data_dir)
        store = VectorStore(settings, use_embedder)
        seed(settings, store)
        svc = KnowledgeService.open(settings, store=store)
    yield svc
    svc.close()


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()
