"""The repository's own tooling: validate, render, set-image, promote, diff, status, configure."""
