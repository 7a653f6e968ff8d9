"""Files → knowledge: loaders per format, Chinese-aware chunking, directory import, incremental re-ingest."""
