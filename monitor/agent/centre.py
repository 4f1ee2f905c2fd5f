"""The agent's side of the wire: one exchange with its centre, over HTTPS with its bearer token
(and a client certificate if it has one), failing over between an HA group's URLs.

Every exchange has a deadline of its own (``timeout`` for connect, each read and write) and reads
at most ``MAX_ANSWER`` bytes: a centre that hangs, resets or answers garbage costs an attempt,
never the agent's rows (the outbox keeps them until an answer acknowledges them).
"""

from __future__ import annotations

import http.client
import logging
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.agent.settings import AgentFile

log = logging.getLogger("vigia.agent")

MAX_ANSWER = 1 << 20


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer at all (refused, reset, timed out, garbage)
    body: bytes = b""
    etag: str = ""
    why: str = ""


class Centre:
    def __init__(self, settings: AgentFile) -> None:
        self.settings = settings
        self.urls = list(settings.centre)
        self.current = 0  # the URL that last answered; the next attempt starts there
        self._context: ssl.SSLContext | None = None
        if any(u.startswith("https://") for u in self.urls):
            self._context = ssl.create_default_context(cafile=settings.ca_file)
            if settings.client_cert:
                self._context.load_cert_chain(settings.client_cert, settings.client_key)

    def token(self) -> str:
        with open(self.settings.token_file, encoding="utf-8") as fh:
            return fh.read().strip()

    def exchange(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """One request, trying each URL once from the current one; the first answer that is not a
        server's failure (5xx) or a broken exchange is returned, and that URL becomes current."""
        last = Answer(0, why="no centre URL")
        for step in range(len(self.urls)):
            index = (self.current + step) % len(self.urls)
            last = self._once(self.urls[index], method, path, body, headers or {})
            if last.status and last.status < 500:
                if index != self.current:
                    log.info("centre %s answers: using it from now on", self.urls[index])
                self.current = index
                return last
            log.warning("centre %s: %s", self.urls[index], last.why or f"HTTP {last.status}")
        return last

    def _once(self, url: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        timeout = self.settings.timeout
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        try:
            token = self.token()
        except OSError as e:
            return Answer(0, why=f"cannot read the token file {self.settings.token_file}: {e.strerror}")
        try:
            conn.request(method, parts.path + path, body=body or None,
                         headers={"Authorization": f"Bearer {token}", **headers})  # fmt: skip
            resp = conn.getresponse()
            data = resp.read(MAX_ANSWER + 1)
            if len(data) > MAX_ANSWER:
                return Answer(0, why="an answer larger than any the centre gives")
            return Answer(resp.status, data, resp.getheader("ETag") or "")
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            return Answer(0, why=f"{type(e).__name__}: {e}"[:200])
        finally:
            conn.close()
