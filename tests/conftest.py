"""Shared fixtures: the real data archives, unpacked once into the user cache."""

from __future__ import annotations

import pytest

from motionfield.data import sources


@pytest.fixture(scope="session")
def data_root():
    """Folder with the unpacked archives of ../shared/data (skips when none can be found)."""
    if sources.find_archives() is None and not sources.data_dir().exists():
        pytest.skip("motion archives (shared/data) not available")
    return sources.unpack()
