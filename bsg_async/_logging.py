"""Logging switched on by one variable, ``BSG_LOG=info|debug``, with secrets redacted.

The ``bsg_async`` logger writes a line per call and per retry at INFO, and
each request and answer (bodies cut to 500 characters) at DEBUG. Python's
logging is the user's to configure; ``BSG_LOG`` is the shortcut: when set,
the first ``Client()`` puts a handler on standard error on the
``bsg_async`` logger (and, at debug, on ``httpx`` and ``httpcore``), unless
that logger already has one. :class:`Redact` guards every record that
handler writes: bearer tokens, ``Authorization`` headers, API keys
(``live_...``/``test_...``) and ``api_key`` fields become ``<redacted>``.
It can be put on any handler: ``handler.addFilter(bsg_async.Redact())``.
"""

from __future__ import annotations

import logging
import os
import re
import sys

__all__ = ["Redact", "configure_from_env"]

_SECRETS = (
    # A bearer token, wherever it appears (a header line, a repr of headers).
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1<redacted>"),
    # An Authorization header in httpcore's byte-tuple form.
    (re.compile(r"(?i)(b?['\"]authorization['\"],\s*b?['\"])[^'\"]*"), r"\1<redacted>"),
    # The key in a login body, and keys written out anywhere.
    (re.compile(r"(?i)(['\"]?api_?key['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"), r"\1<redacted>"),
    (re.compile(r"\b(live|test)_[A-Za-z0-9_-]{4,}"), r"\1_<redacted>"),
)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


def redact(text: str) -> str:
    """``text`` with every token, Authorization value and API key replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """A logging filter that takes secrets out of each record's message before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with its secrets redacted; always keep the record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_configured = False


def configure_from_env() -> None:
    """Act on ``BSG_LOG`` once per process (called by ``Client()``; cheap when unset)."""
    global _configured  # noqa: PLW0603 - once per process
    if _configured:
        return
    _configured = True
    level = _LEVELS.get(os.environ.get("BSG_LOG", "").strip().lower())
    if level is None:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact())
    names = ["bsg_async"] + (["httpx", "httpcore"] if level == logging.DEBUG else [])
    for name in names:
        logger = logging.getLogger(name)
        if logger.handlers:
            continue  # configured by the application: left alone
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
