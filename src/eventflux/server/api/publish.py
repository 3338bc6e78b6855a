"""``POST /api/publish/{subject}``: body ``{"data", "msg_id"?, "key"?, "headers"?}``
-> 202 ``{"msg_id"}`` (also when the bus dropped it as a duplicate)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import context_of
from ..jsonio import json_response, read_json
from ..module import ServerModule
from ..openapi import errors, json_body, json_content, ref
from ..routing import NAME
from ..tokens import Scope
from ..wire import parse_publish

__all__ = ["MODULE", "publish"]


async def publish(request: Request) -> Response:
    """Publish one message to the subject in the path."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.WRITE)
    subject: str = request.path_params["subject"]
    principal.check_name(subject, "subject")
    body = parse_publish(await read_json(request, ctx.settings))
    msg_id = await ctx.bus.publish(
        subject, body.data, msg_id=body.msg_id, key=body.key, headers=body.headers
    )
    ctx.published.tick()
    return json_response({"msg_id": msg_id}, status=202)


MODULE = ServerModule(
    "publish",
    routes=[Route(f"/api/publish/{{subject:{NAME}}}", publish, methods=["POST"])],
    openapi={
        "/api/publish/{subject}": {
            "post": {
                "summary": "Publish a message",
                "operationId": "publish",
                "parameters": [
                    {
                        "name": "subject",
                        "in": "path",
                        "required": True,
                        "description": "Dot-separated tokens, no spaces, no wildcards.",
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": json_body(ref("PublishRequest"), "The message"),
                "responses": {
                    "202": {
                        "description": "Published (or a duplicate within the dedup window)",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["msg_id"],
                                "properties": {"msg_id": {"type": "string"}},
                            }
                        ),
                    },
                    **errors(413),
                },
            }
        }
    },
)
