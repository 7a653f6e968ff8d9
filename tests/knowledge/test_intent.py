"""The intent decision: a classifier trained on the shipped corpus, judged on messages written apart from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.embedder import Embedder
from knowledge.intent import (
    CLASS_TO_INTENT,
    FAMILY_TO_CLASS,
    SHIPPED_DIR,
    IntentCorpusError,
    corpus_files,
    load_examples,
    load_or_train,
)

HOLDOUT = SHIPPED_DIR / "holdout.jsonl"


def test_shipped_corpus_is_large_varied_and_apart_from_the_holdout() -> None:
    files = corpus_files(None)
    train = [e for f in files for e in load_examples(f)]
    assert len(train) >= 600
    assert {e.label for e in train} == {"consult", "meta", "complaint", "person", "decline"}
    held = {json.loads(line)["text"] for line in HOLDOUT.read_text("utf-8").splitlines() if line.strip()}
    assert len(held) >= 300
    assert not held & {e.text for e in train}  # never trained on what it is judged on
    assert HOLDOUT not in files


def test_trained_model_generalises_to_the_holdout(tmp_path: Path, use_embedder: Embedder) -> None:
    model = load_or_train(tmp_path, None, use_embedder.name, use_embedder.embed_queries)
    assert model is not None
    rows = [json.loads(line) for line in HOLDOUT.read_text("utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    probs = model.probabilities(texts, use_embedder.embed_queries(texts))
    right = sum(
        CLASS_TO_INTENT[max(p, key=p.__getitem__)] == CLASS_TO_INTENT[FAMILY_TO_CLASS[r["family"]]]  # type: ignore[index]
        for r, p in zip(rows, probs, strict=True)
    )
    assert right / len(rows) >= 0.9  # measured 0.96: a broken feature or label mapping drops far below
    # Cached on disk and reused: same key, no retraining.
    assert (tmp_path / "intent_model.joblib").is_file()
    again = load_or_train(tmp_path, None, use_embedder.name, use_embedder.embed_queries)
    assert again is not None and again.key == model.key


def test_city_examples_change_the_model(tmp_path: Path, use_embedder: Embedder) -> None:
    base = load_or_train(tmp_path, None, use_embedder.name, use_embedder.embed_queries)
    extra = tmp_path / "intent"
    extra.mkdir()
    (extra / "city.jsonl").write_text(
        json.dumps({"text": "我们这儿的特色：问问彩虹桥审批", "family": "consult"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    city = load_or_train(tmp_path, extra, use_embedder.name, use_embedder.embed_queries)
    assert base is not None and city is not None
    assert city.key != base.key and city.n_examples == base.n_examples + 1


def test_a_broken_examples_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "你好", "family": "chatter"}\n{"text": "x", "family": "nonsense"}\n', encoding="utf-8")
    with pytest.raises(IntentCorpusError, match="第 2 行"):
        load_examples(path)
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(IntentCorpusError, match="第 1 行"):
        load_examples(path)


def test_fast_scoring_equals_scikit_learns(tmp_path: Path, use_embedder: Embedder) -> None:
    model = load_or_train(tmp_path, None, use_embedder.name, use_embedder.embed_queries)
    assert model is not None
    texts = ["你好", "营业职照在哪办", "补贴的钱到现在一分没见着，电话永远占线", "办不成事窗口多久受理", "😀", "a" * 400]
    vectors = use_embedder.embed_queries(texts)
    fast = model.probabilities(texts, vectors)
    slow = model.probabilities_reference(texts, vectors)
    for f, s in zip(fast, slow, strict=True):
        assert f.keys() == s.keys()
        assert all(abs(f[c] - s[c]) < 1e-9 for c in f)
