"""Exceptions that carry a message meant for the user.

The CLI prints ``str(error)`` as one line: a :class:`UsageError` exits with
status 2 (the user asked for something that cannot be done), any other
:class:`GanoramaError` with status 1 (the environment failed: no network,
missing file, ...).
"""


class GanoramaError(Exception):
    """An error whose message is written for the user, one line, no traceback."""


class UsageError(GanoramaError, ValueError):
    """A bad value given by the caller; the message names the value and what is allowed."""


class UsageErrors(UsageError):
    """Several bad values found at once (a job file's bad rows): ``str()`` is one line,
    the first and how many more; ``messages`` holds each in full, one line each, for a
    client that shows them all (the CLI prints one line per message, up to a cap)."""

    def __init__(self, summary: str, messages: list[str]):
        super().__init__(summary)
        self.messages = list(messages)


def install_hint(extra: str) -> str:
    """How to install an optional extra, quoted so that zsh leaves the brackets alone,
    for an installed package and for a clone of the repository."""
    return f'pip install "ganorama[{extra}]" (from a clone: pip install -e ".[{extra}]")'
