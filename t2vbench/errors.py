"""User-facing errors: the CLI prints them as one line and exits non-zero, never a traceback."""


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and how to fix it."""
