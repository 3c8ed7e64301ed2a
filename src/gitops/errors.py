"""The one exception the CLI turns into a one-line error and an exit code."""


class GitopsError(Exception):
    """Bad input or a failed step: the message names the file, resource and field."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code
