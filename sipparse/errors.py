"""The exceptions the library raises; the CLI turns each into one line on stderr and exit 1."""


class SipparseError(Exception):
    """Base of every error a user should see as one clear line (never a traceback)."""


class ConfigError(SipparseError):
    """The configuration (option, environment, TOML file or database URL) is unusable."""


class DatabaseError(SipparseError):
    """The database could not be reached or refused an operation.

    ``unreachable``: the server could not be reached, or the connection to it was lost (a
    restart, a network cut). The same work may succeed later, which ``ingest --follow``, a
    service, waits for; a refusal (a privilege, a full disk, a bad schema) would not.
    """

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class NoSchema(DatabaseError):
    """A database opened only to read holds no sipparse tables yet: nothing was ingested into
    it. (Creating them would need a privilege a read-only account lacks, and leave tables
    behind in a database named by mistake.)"""


class LogFileError(SipparseError):
    """A log file could not be read."""
