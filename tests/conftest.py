"""Shared fixtures: paths to the evaluation data and one Whisper model for the whole run."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO.parent / "shared" / "eval"
EXAMPLES = REPO / "examples"


def eval_file(relative: str) -> Path:
    """A file of ../shared/eval; the test is skipped with a reason when the data is absent."""
    path = EVAL / relative
    if not path.is_file():
        pytest.skip(f"evaluation data not found: {path}")
    return path


@pytest.fixture(scope="session")
def transcriber():
    """The default Transcriber (shipped Whisper base, int8 on CPU), loaded once."""
    from transcribe import Transcriber

    return Transcriber()


@pytest.fixture(scope="session")
def inbound_rubric():
    from rubrics import rubric_path
    from scoring import load_rubric

    return load_rubric(rubric_path("inbound_support"))[0]
