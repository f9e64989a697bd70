"""ASGI middleware: the upload limit, and the anonymous id that makes a browser's samples
and personal model its own."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from typing import Any

from fastapi.responses import JSONResponse

#: the cookie holding a browser's anonymous id (HttpOnly: page scripts never see it)
COOKIE = "digitnet_id"
#: a year: the samples outlive a browser session
COOKIE_AGE = 365 * 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def owner_key(token: str) -> str:
    """What the server stores for a browser: a hash of its cookie, so that the sample store
    (or a log) never holds a value that would let someone act as that browser."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class Owner:
    """Gives every browser an anonymous id in an HttpOnly, SameSite=Lax cookie (made on its
    first request), and puts the id's hash in ``request.state.owner``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = None
        for name, value in scope.get("headers") or []:
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    key, _, val = part.strip().partition("=")
                    if key == COOKIE and _TOKEN.match(val):
                        token = val
        fresh = token is None
        if fresh:
            token = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["owner"] = owner_key(token)

        async def with_cookie(message):
            if fresh and message["type"] == "http.response.start":
                cookie = f"{COOKIE}={token}; Max-Age={COOKIE_AGE}; Path=/; HttpOnly; SameSite=Lax"
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        await self.app(scope, receive, with_cookie)


class UploadLimit:
    """A request body above ``limit`` bytes gets 413 -- at once when its Content-Length says
    so, else as soon as that many bytes have arrived (the app then sees the body end there,
    and its answer is replaced by the 413): it is never read whole. A client that sends
    nothing for ``timeout`` seconds in the middle of its body gets 408, so a slow or stuck
    upload cannot hold the server."""

    def __init__(self, app: Any, limit: int, timeout: float = 20.0) -> None:
        self.app, self.limit, self.timeout = app, limit, timeout

    def _too_large(self) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"upload too large: this server takes up to {self.limit / 1e6:.0f} MB",
                "code": "too_large",
                "limit": self.limit,
            },
            status_code=413,
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._too_large()(scope, receive, send)
        seen, exceeded, complete = 0, None, False
        end = {"type": "http.request", "body": b"", "more_body": False}

        async def counted():
            nonlocal seen, exceeded, complete
            if exceeded:
                return end
            if complete:  # the body is in: what comes now is the disconnect, whenever
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                exceeded = JSONResponse(
                    {
                        "detail": f"the upload stalled for {self.timeout:g} s: "
                        "send the whole file at once",
                        "code": "upload_stalled",
                    },
                    status_code=408,
                )
                return end
            seen += len(message.get("body", b""))
            if seen > self.limit:
                exceeded = self._too_large()
                return end
            complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def guarded(message):
            if exceeded is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await exceeded(scope, receive, send)

        await self.app(scope, counted, guarded)
