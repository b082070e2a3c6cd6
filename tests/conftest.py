import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO.parent / "shared" / "vectors"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_vector(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


@pytest.fixture
def vectors_dir() -> Path:
    assert VECTORS.is_dir(), f"shared vectors not found at {VECTORS}"
    return VECTORS
