"""API key format and digests: `tg_<8-char prefix>_<40 random chars>`, SHA-256 at rest."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

PREFIX_LENGTH = 8
SECRET_LENGTH = 40
_ALPHABET = string.ascii_lowercase + string.digits
_KEY_PATTERN = re.compile(rf"^tg_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9]{{32,128}})$")


@dataclass(frozen=True)
class GeneratedKey:
    """A freshly generated key: the clear text is shown once, only prefix and digest are kept."""

    raw: str
    prefix: str
    digest: str


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_generate() -> GeneratedKey:
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(SECRET_LENGTH)
    )
    raw = f"tg_{prefix}_{secret}"
    return GeneratedKey(raw=raw, prefix=prefix, digest=key_digest(raw))


def key_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None for anything else."""
    match = _KEY_PATTERN.match(raw_key)
    return match.group(1) if match else None


def key_matches(raw_key: str, digest: str) -> bool:
    """Constant-time comparison of a presented key against a stored digest."""
    return hmac.compare_digest(key_digest(raw_key), digest)
