"""Head and hands to full body, online (HMD-NeMo style): see docs/sparse.md."""
