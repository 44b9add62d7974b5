"""The grok engine's errors: one line each, naming the pattern and where it came from."""

from sipparse.errors import SipparseError


class GrokError(SipparseError):
    """An expression or pattern file cannot be compiled (undefined name, cycle, bad regex)."""


class GrokTimeout(GrokError):
    """A match ran past its time limit: distinct from "no match", so callers can count it."""
