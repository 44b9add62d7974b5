"""sipparse: Asterisk PJSIP logger output into SQL tables you can troubleshoot with.

Data flows one way: log files -> log records (dialect prefix parsed by grok) -> whole SIP
messages -> parsed messages -> rows in ``sip_transactions`` and ``calls``.
"""

__version__ = "0.1.0"


def _hold_hangups_of_a_follower() -> None:
    """Hold SIGHUP from the first instant of ``ingest --follow``: logrotate's postrotate or
    ``systemctl reload`` may send it while Python still imports, and its default action
    would end the service. The follow loop lets it through once it takes it as a rotation
    (``logs.follow.event_on_signals``)."""
    import signal
    import sys

    if "--follow" in sys.argv[1:] and hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})


_hold_hangups_of_a_follower()
