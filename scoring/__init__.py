"""Transcript + rubric -> Scorecard. Never touches audio or the database."""
from scoring.engine import RubricScorer
from scoring.rubric import Rubric
from scoring.rubric_loader import RubricError, load_rubric, parse_rubric

__all__ = ["Rubric", "RubricError", "RubricScorer", "load_rubric", "parse_rubric"]
