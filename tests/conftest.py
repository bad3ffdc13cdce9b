import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def model():
    from pagecheck.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def ruleset(model):
    from pagecheck.rules import load_rules

    return load_rules(model)
