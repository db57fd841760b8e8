"""The admin API's OpenAPI 3.1 document, built from the same table that builds the routes.

Request and answer bodies are msgspec Structs; their JSON Schemas (2020-12,
the dialect OpenAPI 3.1 uses) come from ``msgspec.json.schema_components``,
so the document cannot drift from what the handlers decode and encode.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REF = "#/components/schemas/{name}"


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[msgspec.Struct] | None = None
    answer: type[msgspec.Struct] | None = None
    answer_type: str = "application/json"
    auth: bool = True
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = field(default=())
    status: int = 200  # the success status


_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


_ERROR_TEXT = {
    400: "Invalid input: the error names the problem",
    401: "Missing or wrong bearer token",
    404: "No such resource",
    413: "Body over 1 MiB",
    429: "Too many jobs running: retry later",
    500: "The change could not be persisted",
    503: "The cluster control plane (NATS) is unreachable: retry later",
}


def build_document(ops: Sequence[Operation], error: type[msgspec.Struct], version: str) -> Any:
    structs: list[Any] = [error]
    for op in ops:
        structs += [s for s in (op.body, op.answer) if s is not None]
    _, schemas = msgspec.json.schema_components(structs, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, error.__name__)
    # the $refs say #/components/schemas/<name>: the schemas go there, not beside the schemes
    components = {
        "schemas": schemas,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edge admin API",
            "version": version,
            "description": (
                "Purge, versioned invalidation, cache warming, stats and metrics of one edge node."
            ),
        },
        "paths": paths,
        "components": components,
    }


def _operation(op: Operation, error_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.handler.__name__,
        "summary": op.summary,
        "security": [{"bearer": []}] if op.auth else [],
    }
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "schema": q.schema,
            "description": q.description,
        }
        for q in op.query
    ]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(name=op.body.__name__)}}
            },
        }
    ok: dict[str, Any] = {"description": "Accepted" if op.status == 202 else "OK"}
    if op.answer is not None:
        ok["content"] = {op.answer_type: {"schema": {"$ref": _REF.format(name=op.answer.__name__)}}}
    elif op.answer_type != "application/json":
        ok["content"] = {op.answer_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): ok}
    codes = set(op.errors) | ({401} if op.auth else set())
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": _REF.format(name=error_name)}}},
        }
    out["responses"] = responses
    return out
