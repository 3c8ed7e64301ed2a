"""The one exception the CLI turns into a one-line error and an exit code.

Exit codes: 0 success (or nothing to do), 1 a check or step failed (validation
errors, a diff found, git refused), 2 bad input. After any non-zero exit nothing in
the repository was changed (no file byte, no commit).
"""

BAD_INPUT = 2
FAILED = 1


class GitopsError(Exception):
    """Bad input or a failed step: the message names the file, resource and field."""

    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one printable line: control characters escaped, long text cut."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())
    return out if len(out) <= limit else out[: limit - 3] + "..."
