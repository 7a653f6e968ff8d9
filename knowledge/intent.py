"""What a message wants: a consultation, a question about the desk, the desk itself, or nothing of ours.

A trained classifier, not a list of phrasings: people complain in words no pattern list knows
("补贴的钱到现在一分没见着，电话永远占线"). scikit-learn's logistic regression reads three views of
the message:
- character 1–3-grams (TF-IDF): robust to typos and dialect, no segmentation needed;
- the sentence embedding the retriever already computes (USE by default): meaning beyond the words;
- a few hand-made features — the complaint-pattern families of knowledge.answer, length, question
  marks — as *features*; the model decides how much they count.

Classes (a message's `family` in the corpus maps onto one):
- consult (consult, consult_negative): an ordinary question → retrieval decides answer or, when the
  directory covers nothing like it, the desk;
- meta: about the 办不成事 desk or the bot itself → answered from the desk's rules;
- complaint, person: the normal route failed / asks for a human → the desk;
- decline (chatter, offtopic): not a government matter → a friendly line, no desk.

The corpus ships in data/intent/train.jsonl (written by people who never saw this code); a city adds
its own examples as .jsonl files in `<data_dir>/<intent.examples_dir>/` and runs `zhitong train-intent`.
The trained model is cached in the data dir, keyed by the corpus, the features and the embedder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from knowledge.desk_signals import DESK_NAME, DESK_RE
from knowledge.lexical import normalize

log = logging.getLogger(__name__)

IntentClass = Literal["consult", "meta", "complaint", "person", "decline"]
CLASSES: tuple[IntentClass, ...] = ("consult", "meta", "complaint", "person", "decline")
# The corpus's families → the classifier's classes.
FAMILY_TO_CLASS: dict[str, IntentClass] = {
    "consult": "consult",
    "consult_negative": "consult",
    "meta": "meta",
    "complaint": "complaint",
    "person": "person",
    "chatter": "decline",
    "offtopic": "decline",
}
# The three outcomes of DESIGN.md: what each class becomes when nothing else decides.
CLASS_TO_INTENT: dict[IntentClass, str] = {
    "consult": "answer",
    "meta": "answer",
    "complaint": "desk",
    "person": "desk",
    "decline": "decline",
}
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "intent"
SHIPPED_CORPUS = SHIPPED_DIR / "train.jsonl"
# At most this many of the city's own names (items, departments, aliases) join the training data as
# consultations: they teach the model that a bare "环评" or "食品经营许可" is a question in *this* city.
MAX_DIRECTORY_EXAMPLES = 400
# Bump when the features change: a cached model from older features is retrained, never misread.
FEATURE_VERSION = 3
MODEL_FILE = "intent_model.joblib"


class IntentCorpusError(ValueError):
    """An examples file cannot be used; the message is Chinese and names the file and line."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: IntentClass


def load_examples(path: Path) -> list[Example]:
    """Examples of one .jsonl file: {"text", "family"} (or {"text", "intent"} with answer/desk/decline)."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntentCorpusError(f"无法读取意图样例文件 {path.name}（需要 UTF-8 编码的 .jsonl）") from exc
    examples: list[Example] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IntentCorpusError(f"{path.name} 第 {number} 行不是有效的 JSON") from exc
        text = obj.get("text") or obj.get("q") if isinstance(obj, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise IntentCorpusError(f"{path.name} 第 {number} 行缺少 text")
        label = _label_of(obj)
        if label is None:
            raise IntentCorpusError(
                f"{path.name} 第 {number} 行的 family/intent 无法识别（family 可选："
                f"{'、'.join(FAMILY_TO_CLASS)}；或 intent：answer/desk/decline）"
            )
        examples.append(Example(text.strip(), label))
    return examples


def _label_of(obj: dict[str, Any]) -> IntentClass | None:
    family = obj.get("family")
    if isinstance(family, str) and family in FAMILY_TO_CLASS:
        return FAMILY_TO_CLASS[family]
    intent = obj.get("intent")
    # Without a family, a city's "desk" example is a complaint and "answer" a consultation.
    by_intent: dict[str, IntentClass] = {"answer": "consult", "desk": "complaint", "decline": "decline"}
    return by_intent.get(intent) if isinstance(intent, str) else None


def corpus_files(extra_dir: Path | None) -> list[Path]:
    """The shipped corpus (data/intent/train*.jsonl), then the city's own examples (sorted: a stable key)."""
    files = sorted(SHIPPED_DIR.glob("train*.jsonl")) if SHIPPED_DIR.is_dir() else []
    if extra_dir is not None and extra_dir.is_dir():
        files.extend(sorted(p for p in extra_dir.glob("*.jsonl") if p.is_file()))
    return files


def directory_examples(names: Iterable[str]) -> list[str]:
    """A stable sample of the city's names, used as consultation examples."""
    unique = sorted({n.strip() for n in names if n and 2 <= len(n.strip()) <= 40})
    unique.sort(key=lambda n: hashlib.blake2b(n.encode("utf-8"), digest_size=8).digest())
    return sorted(unique[:MAX_DIRECTORY_EXAMPLES])


def corpus_key(files: Sequence[Path], embedder_name: str, directory: Sequence[str] = ()) -> str:
    digest = hashlib.sha256(f"v{FEATURE_VERSION}|{embedder_name}".encode())
    for path in files:
        digest.update(path.name.encode("utf-8"))
        digest.update(path.read_bytes())
    digest.update("\x1f".join(directory).encode("utf-8"))
    return digest.hexdigest()


# Trained models of this process by key: services over the same corpus (tests, several reloads)
# train once. Small (a few MB each) and bounded by the number of distinct corpora a process sees.
_TRAINED: dict[str, IntentClassifier] = {}


# -- features -------------------------------------------------------------------------------------

_QUESTION_MARK = re.compile(r"[?？吗么嘛呢]\s*$|怎么|如何|哪|什么|啥|多少|几|能不能|可以吗|是否")


def _pattern_features(texts: Sequence[str]) -> np.ndarray:
    rows = []
    for text in texts:
        row = [1.0 if pattern.search(text) else 0.0 for pattern, _ in DESK_RE]
        row.append(1.0 if DESK_NAME.search(text) else 0.0)
        row.append(1.0 if _QUESTION_MARK.search(text) else 0.0)
        row.append(math.log1p(len(text)) / 6.0)
        rows.append(row)
    return np.asarray(rows, dtype=np.float32)


def _normalize(text: str) -> str:
    return normalize(text)


class IntentClassifier:
    """A fitted model; `predict` takes the texts and their sentence embeddings (same embedder)."""

    def __init__(self, vectorizer: Any, model: Any, embedder_name: str, key: str, n_examples: int) -> None:
        self.vectorizer = vectorizer
        self.model = model
        self.embedder_name = embedder_name
        self.key = key
        self.n_examples = n_examples
        self.classes: list[str] = [str(c) for c in model.classes_]
        # The fitted model as plain arrays: one message is scored in ~0.1 ms instead of ~2 ms of
        # scikit-learn's per-call validation (the answer path runs this for every question).
        self._analyzer = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        coef = np.asarray(model.coef_, dtype=np.float64)
        n_text = len(self._idf)
        self._coef_text = coef[:, :n_text]
        self._coef_rest = coef[:, n_text:]
        self._intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row for the second class
            self._coef_text = np.vstack([-self._coef_text, self._coef_text]) / 2
            self._coef_rest = np.vstack([-self._coef_rest, self._coef_rest]) / 2
            self._intercept = np.array([-self._intercept[0], self._intercept[0]]) / 2

    @classmethod
    def train(cls, examples: Sequence[Example], vectors: np.ndarray, embedder_name: str, key: str = "") -> IntentClassifier:
        # scikit-learn/SciPy/joblib load only where the classifier is trained, saved or used (~0.5 s at import).
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len({e.label for e in examples}) < 2:
            raise IntentCorpusError("意图样例至少要有两类")
        texts = [_normalize(e.text) for e in examples]
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1, max_features=60000)
        vectorizer.fit(texts)
        features = _features(vectorizer, texts, vectors)
        model = LogisticRegression(C=8.0, class_weight="balanced", max_iter=4000)
        model.fit(features, [e.label for e in examples])
        return cls(vectorizer, model, embedder_name, key, len(examples))

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> list[dict[str, float]]:
        """Per text, each class's probability (the same numbers as the scikit-learn model's predict_proba)."""
        if not texts:
            return []
        normalized = [_normalize(t) for t in texts]
        dense = np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)
        rest = np.hstack([dense, _pattern_features(normalized).astype(np.float64)])
        logits = rest @ self._coef_rest.T + self._intercept
        for row, text in enumerate(normalized):
            counts: dict[int, int] = {}
            for gram in self._analyzer(text):
                column = self._vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
            weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))))
            weights *= self._idf[columns]  # sublinear tf × idf, then l2-normalised, as TfidfVectorizer does
            weights /= np.linalg.norm(weights)
            logits[row] += self._coef_text[:, columns] @ weights
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return [{c: float(p) for c, p in zip(self.classes, row, strict=True)} for row in probs]

    def probabilities_reference(self, texts: Sequence[str], vectors: np.ndarray) -> list[dict[str, float]]:
        """scikit-learn's own predict_proba (slow path; tests check `probabilities` against it)."""
        features = _features(self.vectorizer, [_normalize(t) for t in texts], vectors)
        probs = self.model.predict_proba(features)
        return [{c: float(p) for c, p in zip(self.classes, row, strict=True)} for row in probs]

    def save(self, path: Path) -> None:
        # scikit-learn/SciPy/joblib load only where the classifier is trained, saved or used (~0.5 s at import).
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        # One temporary name per process: webhook workers starting together on one data dir each train and
        # save the model; with a shared name one's rename found the file already moved by another.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        joblib.dump({"vectorizer": self.vectorizer, "model": self.model, "embedder": self.embedder_name,
                     "key": self.key, "n": self.n_examples}, tmp)
        tmp.replace(path)  # readers never see half a model

    @classmethod
    def load(cls, path: Path) -> IntentClassifier:
        # scikit-learn/SciPy/joblib load only where the classifier is trained, saved or used (~0.5 s at import).
        import joblib

        blob = joblib.load(path)
        return cls(blob["vectorizer"], blob["model"], blob["embedder"], blob["key"], int(blob.get("n", 0)))


def _features(vectorizer: Any, texts: Sequence[str], vectors: np.ndarray) -> Any:
    # scikit-learn/SciPy/joblib load only where the classifier is trained, saved or used (~0.5 s at import).
    from scipy.sparse import csr_matrix, hstack

    dense = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
    return hstack([vectorizer.transform(texts), csr_matrix(dense), csr_matrix(_pattern_features(texts))]).tocsr()


def load_or_train(
    data_dir: Path,
    examples_dir: Path | None,
    embedder_name: str,
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    directory: Sequence[str] = (),
    force: bool = False,
) -> IntentClassifier | None:
    """The cached model when it matches the corpus and embedder, else a freshly trained (and cached) one.

    `directory`: the city's names (directory_examples), trained as consultations. None when there is
    no corpus at all (the service then treats every message as a consultation).
    """
    files = corpus_files(examples_dir)
    if not files:
        log.warning("no intent corpus found in %s: every message is treated as a consultation", SHIPPED_DIR)
        return None
    key = corpus_key(files, embedder_name, directory)
    path = data_dir / MODEL_FILE
    if not force and key in _TRAINED:
        if not path.is_file():  # another data dir of this process trained it: cache it here too
            _save_quietly(_TRAINED[key], path)
        return _TRAINED[key]
    if path.is_file() and not force:
        try:
            cached = IntentClassifier.load(path)
            if cached.key == key:
                _TRAINED[key] = cached
                return cached
        except Exception:  # an unreadable or foreign file is rebuilt, never trusted
            log.warning("intent model %s unreadable; retraining", path, exc_info=True)
    examples: list[Example] = []
    for file in files:
        examples.extend(load_examples(file))
    examples.extend(Example(name, "consult") for name in directory)
    classifier = IntentClassifier.train(examples, _embed_all(embed, [e.text for e in examples]), embedder_name, key)
    _TRAINED[key] = classifier
    _save_quietly(classifier, path)
    log.info("intent model trained on %d examples from %d file(s)", len(examples), len(files))
    return classifier


def _save_quietly(classifier: IntentClassifier, path: Path) -> None:
    try:
        classifier.save(path)
    except OSError:  # a read-only data dir still answers; it only retrains next start
        log.warning("could not cache the intent model in %s", path, exc_info=True)


def _embed_all(embed: Callable[[Sequence[str]], np.ndarray], texts: Iterable[str], batch: int = 256) -> np.ndarray:
    items = list(texts)
    parts = [np.asarray(embed(items[i : i + batch])) for i in range(0, len(items), batch)]
    return np.vstack(parts) if parts else np.zeros((0, 1), dtype=np.float32)
