"""Files → knowledge: loaders per format, Chinese-aware chunking, directory import, incremental re-ingest.

The ingest ↔ retrieval interface contract is in docs/knowledge-contract.md — read it first.
"""
