"""An httpx transport that never has more requests in flight than its connection pool holds.

httpcore hands pooled connections to queued requests by scanning every queued request against every
connection, each time one frees: with thousands of ticket polls queued behind a pool of a hundred that
scan is quadratic, and in a 3,000-user storm it took most of the generator's CPU. Waiting on a semaphore
sized to the pool instead queues the surplus in O(1), and httpcore's queue stays empty.
"""

from __future__ import annotations

import asyncio

import httpx


class CappedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, slots: int) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(slots)
        self.peak = 0  # the most requests seen in flight at once
        self._in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self._slots:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            try:
                response = await self._inner.handle_async_request(request)
                stream = response.stream
                if not isinstance(stream, httpx.AsyncByteStream):
                    raise TypeError("an async transport answered with a sync stream")
                try:
                    # the body is read inside the slot: until then the connection is still taken
                    body = b"".join([chunk async for chunk in stream])
                finally:
                    await stream.aclose()
            finally:
                self._in_flight -= 1
        # the raw bytes and the same headers: httpx still decodes a compressed body once, as before
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
