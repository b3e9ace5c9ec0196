"""Errors caused by the user's input; the CLI prints them as one message and exits with status 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input (a file, a folder, an option value): the message names the problem and the fix."""
