"""The request body size cap of the service (413 before the body is read).

A pure ASGI middleware (no body buffering by Starlette): a request whose ``Content-Length``
exceeds ``max_body_bytes`` is answered 413 at once, without reading a byte of the body; a
request without a length (chunked, streamed) is read up to the cap and answered 413 as soon
as it passes it. The answer is the service's small problem document
(``errors.problem_response``); the connection is closed so the rest of the body is never
read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localflex.service.errors import FieldProblem, problem_response

__all__ = ["BodySizeLimit"]


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, sent: str) -> None:
        response = problem_response(
            413, f"request body over {self.max_body_bytes} bytes", instance=scope.get("path"),
            errors=[FieldProblem(loc=["header", "content-length"], field="body", value=sent,
                                 expected=f"at most {self.max_body_bytes} bytes")],
            headers={"Connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value.decode("latin-1")
                break
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body_bytes:
                await self._refuse(scope, receive, send, length[:20])
                return
            await self.app(scope, receive, send)
            return
        # no declared length: read (at most the cap) before the app sees the body
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, f"> {self.max_body_bytes}")
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks),
                                  "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)
