"""User-facing errors: the CLI prints these as one line and exits non-zero (no traceback)."""


class SpaganError(Exception):
    """A problem with the user's input (files, folders, params), not a bug."""
