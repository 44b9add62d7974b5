"""sipparse.digest: the same SHA-1 as hashlib, without loading OpenSSL."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from sipparse.digest import sha1_hex


@given(st.binary(max_size=5000))
def test_the_digest_is_hashlibs(data: bytes) -> None:
    assert sha1_hex(data) == hashlib.sha1(data).hexdigest()


def test_fingerprints_and_lock_names_load_no_openssl() -> None:
    code = ("import sys; from sipparse.logs import files, locks; "
            "files.fingerprint_of(b'x' * 600 + b'\\n'); locks.lock_path_for('/var/log/asterisk/pjsip'); "
            "print(sorted(m for m in ('_hashlib', '_ssl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
