"""The admin API's ``POST /reload``: read the config file again and apply what can change live.

The same as a SIGHUP (:mod:`edge.runtime.reload`), with the outcome in the
answer: the keys applied, the keys that changed but need a restart, and with
workers whether each one reloaded. An invalid file is a 400 naming the key
path; the running config stays.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from edge.runtime.node import Node
from edge.web.admin_io import from_worker as _from_worker
from edge.web.admin_io import json_answer
from edge.web.openapi import Operation

NODE_KEY = web.AppKey("reload_node", Node)


class ReloadAnswer(msgspec.Struct, kw_only=True):
    reloaded: bool
    applied: list[str] = []  # key paths now in effect
    restart_required: list[str] = []  # key paths that changed but keep their running value
    workers: dict[str, bool] = {}  # with workers: each worker's index and whether it reloaded
    error: str | None = None  # why the file was refused (naming the key path)
    key: str | None = None  # that key path


async def reload_config(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    if node.reload is None:
        answer = ReloadAnswer(reloaded=False, error="this node cannot reload (not run by serve)")
        return json_answer(answer, 400)
    # a fan-out from the leader reloads this worker only, from the file the leader wrote
    result = await node.reload(peers=not _from_worker(request))
    answer = ReloadAnswer(
        reloaded=result.ok,
        applied=list(result.applied),
        restart_required=list(result.restart_required),
        workers=dict(result.workers),
        error=result.error,
        key=result.key,
    )
    return json_answer(answer, 200 if result.ok else 400)


RELOAD_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/reload",
        reload_config,
        "Re-read the config file; apply live changes, name those needing a restart",
        answer=ReloadAnswer,
        errors=(400,),
    ),
)
