"""Retrieval and answering: embedder, vector store, lexical index, hybrid retriever, answer composer.

The ingest ↔ retrieval interface contract is in docs/knowledge-contract.md — read it first.
"""
