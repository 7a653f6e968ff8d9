"""The bot's HTTP client for the Bot API: python-telegram-bot's BaseRequest on aiohttp.

PTB's default backend is httpx. Profiled under a burst of 200 owners asking at once (2 cores), sending
the answers through httpx/httpcore was ~60% of the event loop's CPU — httpcore checks every pooled
connection's socket on each request — and the event loop is what every other chat waits on. aiohttp's
client does the same work for a fraction of the CPU, so the bot talks to Telegram through it.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


class AiohttpRequest(BaseRequest):
    """One aiohttp ClientSession with a bounded connection pool.

    Timeouts keep PTB's meaning: ``pool_timeout`` bounds the wait for a free connection (aiohttp's
    ``connect`` covers pool acquisition), ``connect_timeout`` the TCP/TLS connect, ``read_timeout`` each
    socket read; ``write_timeout`` is added for uploads, whose body can take long to send.
    """

    def __init__(
        self, *, connection_pool_size: int = 16, read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # No environment proxies or cookies: the Bot API URL is the whole configuration.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        write_default = self._media_write_timeout if files else self._write_timeout
        write = write_default if isinstance(write_timeout, DefaultValue) else write_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None and connect is None else (pool or 0) + (connect or 0),
            sock_connect=connect,
            # aiohttp has no separate write timeout: an upload's read deadline includes sending it.
            sock_read=None if read is None else read + ((write or 0) if files else 0),
        )
        data: Any = _form(fields, files) if files else fields
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _form(fields: dict[str, str] | None, files: dict[str, Any]) -> aiohttp.FormData:
    """multipart/form-data with the parameters and the files PTB prepared (name → (filename, content, mime))."""
    # Unquoted fields: file names go out as UTF-8 (营商环境条例.pdf), as PTB's httpx backend sends them,
    # not percent-encoded, which Telegram would show to the recipient as-is.
    form = aiohttp.FormData(quote_fields=False)
    for name, value in (fields or {}).items():
        form.add_field(name, value)
    for name, (filename, content, mime) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form
