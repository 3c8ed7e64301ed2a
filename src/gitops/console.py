"""Output that never aborts a command: a reader that goes away (`gitops status | head -1`)
only stops the output, not the work.

stdout carries the command's result; stderr carries only the one-line error.
"""

from __future__ import annotations

import contextlib
import os
import sys


def say(message: str = "", end: str = "\n") -> None:
    """Print to stdout; when the reader has gone, discard this and all later output."""
    try:
        sys.stdout.write(message + end)
    except BrokenPipeError:
        silence_stdout()


def quiet(message: str = "", end: str = "\n") -> None:
    """A log that prints nothing (when stdout is reserved for a document, e.g. --pr-body)."""


def flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail either."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def error(message: str) -> None:
    """The one line on stderr."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
