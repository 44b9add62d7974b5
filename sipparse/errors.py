"""The exceptions the library raises; the CLI turns each into one line on stderr and exit 1."""


class SipparseError(Exception):
    """Base of every error a user should see as one clear line (never a traceback)."""


class ConfigError(SipparseError):
    """The configuration (option, environment, TOML file or database URL) is unusable."""


class DatabaseError(SipparseError):
    """The database could not be reached or refused an operation."""


class LogFileError(SipparseError):
    """A log file could not be read."""
