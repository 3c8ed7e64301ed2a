"""OCI image references: what a tag, a digest and an image name may be (the OCI grammar).

Values arrive from workflow inputs and are untrusted: nothing that fails these
checks ever reaches a manifest.
"""

from __future__ import annotations

import re

from .errors import GitopsError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?"
NAME_RE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255


def tag(value: str) -> str:
    if not isinstance(value, str) or not TAG_RE.fullmatch(value):
        raise GitopsError(f"--tag {value!r}: not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})")
    return value


def digest(value: str) -> str:
    if not isinstance(value, str) or not DIGEST_RE.fullmatch(value):
        raise GitopsError(f"--digest {value!r}: not a valid digest (sha256: and 64 lowercase hex digits)")
    return value


def image_name(value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME or not NAME_RE.fullmatch(value):
        raise GitopsError(f"--image {value!r}: not a valid image name (OCI reference grammar, no tag)")
    return value
