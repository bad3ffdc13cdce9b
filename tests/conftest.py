import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test gets an empty pagecheck cache (the CLI caches by default): no test
    sees another's facts, and nothing is written to the real ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def model():
    from pagecheck.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def ruleset(model):
    from pagecheck.rules import load_rules

    return load_rules(model)
