"""The errors of the query commands, each shown to the user as one clear line."""

from sipparse.errors import SipparseError
from sipparse.query.render import visible


class QueryError(SipparseError):
    """A query cannot be answered as asked (unknown or ambiguous Call-ID, bad time, ...)."""


class CallNotFound(QueryError):
    """No stored message has this Call-ID, and no Call-ID starts with it or holds it."""

    def __init__(self, message: str, close: list[str] | None = None) -> None:
        """:param close: stored Call-IDs like the one asked for, offered in the message."""
        self.close = close or []
        lines = [message + ("; close ones:" if self.close else "")]
        lines += [f"  {visible(cid)}" for cid in self.close]
        super().__init__("\n".join(lines))


class AmbiguousCallId(QueryError):
    """A Call-ID prefix or pattern matches several calls; the message lists them."""

    def __init__(self, given: str, candidates: list[str], more: int = 0, counted: bool = True) -> None:
        """:param counted: whether ``more`` is all the others, or only how many were looked at."""
        self.given = given
        self.candidates = candidates
        about = "" if counted else "over "
        lines = [f"{given!r} matches {about}{len(candidates) + more} calls; give more of the Call-ID:"]
        lines += [f"  {visible(cid)}" for cid in candidates]
        if more:
            lines.append(f"  ... and {about}{more} more")
        super().__init__("\n".join(lines))
