"""SHA-1 hex digests (log fingerprints, lock names) without loading OpenSSL.

``hashlib`` loads the system's OpenSSL, after which the MySQL connector's C extension, which
some wheels link to an OpenSSL of their own, can no longer load (``sipparse.store.mysql``).
CPython's own SHA-1 (``_sha1``) gives the same digests, so a run loads the connector only
when its database is MySQL, and an SQLite run does not map it at all (3 MiB of each run's
memory). ``hashlib`` stays the fallback where an interpreter lacks ``_sha1``.
"""

from __future__ import annotations

try:
    from _sha1 import sha1 as _sha1
except ImportError:  # an interpreter built without its own hashes
    from hashlib import sha1 as _sha1


def sha1_hex(data: bytes) -> str:
    """The SHA-1 of ``data``, in hex."""
    return str(_sha1(data).hexdigest())
