"""One redactor for every URL that reaches a message, a log line, a store row or a report.

A URL's userinfo may carry a password (``postgresql://vigia:s3cr3t@db/vigia``), and a password may
hold an unescaped ``@`` (``vigia:p@ss@db``): the authority ends at the *last* ``@`` before the path,
so everything up to it is userinfo. The user name is kept (it helps the reader), the password never.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

# scheme://userinfo@ where userinfo runs to the last @ before the path, a space or a quote.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s'\"<>]*)@")
MASK = "***"


def _mask(match: re.Match[str]) -> str:
    user, sep, _password = match.group("userinfo").partition(":")
    return f"{match.group('scheme')}{user}{':' + MASK if sep else ''}@"


def redact(text: str) -> str:
    """``text`` with the password of every URL in it masked (user kept)."""
    if "://" not in text:
        return text
    return _USERINFO.sub(_mask, text)


def quote_userinfo(url: str) -> str:
    """``url`` with an unescaped ``@`` (or ``:``, ``/``) in its password percent-encoded.

    People paste passwords as they are; a URL parser then takes the password's tail for the host,
    connects nowhere and names that tail in its error. The authority ends at the last ``@``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at or "@" not in userinfo:
        return url
    user, colon, password = userinfo.partition(":")
    return f"{scheme}://{quote(user, safe='')}{colon}{quote(password, safe='')}@{hostport}{slash}{path}"


# The drivers vigia ships with, for URLs written the way people write them (postgresql://...).
_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mysql+pymysql"}


def database_url(url: str) -> str:
    """A database URL as SQLAlchemy takes it: the shipped driver named, the password quoted."""
    url = quote_userinfo(url)
    scheme, sep, rest = url.partition("://")
    return f"{_DRIVERS[scheme]}://{rest}" if sep and scheme in _DRIVERS else url


def has_password(url: str) -> bool:
    """Whether a URL carries a password in its userinfo."""
    return redact(url) != url


class RedactingFilter(logging.Filter):
    """Masks URL passwords in every record a handler emits, whatever module logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
