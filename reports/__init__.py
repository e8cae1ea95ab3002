"""HTML reports rendered from the database only (never re-scores)."""
