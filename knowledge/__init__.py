"""Retrieval and answering: embedder, vector store, lexical index, hybrid retriever, answer composer."""
