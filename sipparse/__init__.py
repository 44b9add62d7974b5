"""sipparse: Asterisk PJSIP logger output into SQL tables you can troubleshoot with.

Data flows one way: log files -> log records (dialect prefix parsed by grok) -> whole SIP
messages -> parsed messages -> rows in ``sip_transactions`` and ``calls``.
"""

__version__ = "0.1.0"
