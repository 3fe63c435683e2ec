"""Domain errors. The CLI prints their message and exits non-zero; it never shows a traceback."""

from __future__ import annotations


class B2BScoreError(Exception):
    """Base class of every error b2bscore raises on purpose (bad input, bad config, bad state)."""

    exit_code: int = 2


class ConfigError(B2BScoreError):
    """A configuration or mapping file is missing, unreadable or has an invalid field."""


class DataError(B2BScoreError):
    """Input data is missing, unreadable or violates the data contract."""


class MissingTableError(DataError):
    """A job needs a table that the data directory does not provide."""
