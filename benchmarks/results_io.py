"""Where benchmark results go: printed, and written as JSON for the docs' tables."""

from __future__ import annotations

import json
from pathlib import Path


def report(result: dict, path: str) -> int:
    text = json.dumps(result, indent=1)
    print(text)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")
    return 0
