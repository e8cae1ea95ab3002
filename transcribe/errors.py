"""Errors raised for audio the pipeline cannot use."""


class AudioError(Exception):
    """An audio file is missing, unreadable, empty or otherwise unusable."""


class ModelError(Exception):
    """A speech model cannot be found, assembled or verified."""
