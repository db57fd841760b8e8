"""The admin API under schemathesis, from its own OpenAPI document, on a real edge process.

Requests generated from ``GET /openapi.json`` (every operation, its bodies and query
parameters): with the token, never a 5xx and every answer matches the document (status,
content type, body schema); without it, every protected operation is 401 and changes
nothing. A 400 for input the schema cannot express (a purge URL must be a path or an
http(s) URL, a prefix printable) is allowed: it is documented, and checked like any
answer. ``EDGE_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (default 8, a few
seconds; 500 is a long run). POST /reload is left out (tests/reliability/test_reload.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from edge.web.admin import OPERATIONS
from edge.web.admin_schema import ErrorAnswer
from edge.web.openapi import build_document
from tests.reliability.conftest import TOKEN, Proc, start_edge, start_origin

EXAMPLES = int(os.environ.get("EDGE_SCHEMATHESIS_EXAMPLES", "8"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# what the generated calls may not do to the node under test: stop it, or make it fetch for
# minutes (warming a generated URL list is still exercised, its size bounded by the schema)
SKIP = {("POST", "/reload")}

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    origin = start_origin(tmp)
    try:
        edge = start_edge(origin, tmp, name="schemathesis")
        try:
            yield edge
        finally:
            edge.stop()
    finally:
        origin.stop()


def test_every_ref_of_the_document_resolves() -> None:
    doc = build_document(OPERATIONS, ErrorAnswer, "0")
    refs = re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(doc))
    assert refs
    for ref in refs:
        node: Any = doc
        for part in ref.split("/"):
            node = node[part]  # KeyError: a $ref into nothing


@pytest.fixture(scope="module")
def admin_schema(live: Proc) -> Any:
    url = f"http://127.0.0.1:{live.admin_port}/openapi.json"
    return schemathesis.openapi.from_url(url, headers=AUTH)


def _run(operation: Any, examples: int, check: Callable[[Any], None], mode: GenerationMode) -> None:
    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: Any) -> None:
        check(case)

    run()


OPERATION_IDS = [f"{op.method} {op.path}" for op in OPERATIONS if (op.method, op.path) not in SKIP]


@pytest.mark.parametrize("operation", OPERATION_IDS)
def test_every_answer_matches_the_document_and_none_is_a_5xx(
    admin_schema: Any, operation: str
) -> None:
    method, path = operation.split(" ", 1)
    _run(
        admin_schema[path][method],
        EXAMPLES,
        lambda case: case.call_and_validate(
            headers=AUTH, excluded_checks=[positive_data_acceptance]
        ),
        GenerationMode.POSITIVE,
    )


@pytest.mark.parametrize("operation", OPERATION_IDS)
def test_without_the_token_every_protected_operation_is_refused(
    admin_schema: Any, operation: str
) -> None:
    method, path = operation.split(" ", 1)
    public = (method, path) in {(op.method, op.path) for op in OPERATIONS if not op.auth}

    def refused(case: Any) -> None:
        wrong = {"Authorization": "Bearer not-the-token-0123456789"}
        for headers in (wrong, None):
            response = case.call(headers=headers)
            if public:
                assert response.status_code < 500
            else:
                assert response.status_code == 401, (operation, response.status_code)

    _run(admin_schema[path][method], max(1, EXAMPLES // 4), refused, GenerationMode.POSITIVE)
