"""Errors the CLI turns into one clear line and a non-zero exit."""


class UserError(Exception):
    """Bad input from the person at the keyboard: wrong argument, unknown code, bad file."""
