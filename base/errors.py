"""Errors the CLI turns into one clear line and a non-zero exit."""


class UserError(Exception):
    """Bad input from the person at the keyboard: wrong argument, unknown code, bad file."""


class InvalidSetting(UserError):
    """A setting (environment or `.env`) with a wrong value: the message starts with its
    environment variable's name."""
