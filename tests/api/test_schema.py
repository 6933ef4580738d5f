"""The API against its own OpenAPI description, by a property-based runner (schemathesis, ASGI
transport, a valid key): for data the description allows and data it forbids, every operation
answers without a server error, with a documented status code, the documented content type
(`application/problem+json` for every error) and headers, and a body that conforms; data the
description forbids is refused, and the key is really required.

One test per operation and generation mode (the operations are read from the description
itself, so a new endpoint is covered without a change here), each a fixed number of examples
with `derandomize` (the same cases every run): the file runs in well under a minute and a
half on both databases. Schemathesis' pytest plugin (`from_fixture`) does not run under this
pytest; its Hypothesis strategies do, which is all this needs."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine

from dispatch.channels import rules as channel_rules
from dispatch.config import Settings
from dispatch.db import make_engine
from tests.api.conftest import make_client
from web.api.app import create_api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
#: Examples per operation and mode (kept small: the file runs on both databases in CI's 20 minutes).
EXAMPLES = 6


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the description names (built without a database)."""
    offline = create_api(
        settings=Settings(database_url="sqlite://", scheduler=False),
        engine=make_engine("sqlite://"),
    )
    paths = offline.openapi()["paths"]
    return [(method.upper(), path) for path, ops in sorted(paths.items()) for method in ops]


@pytest.fixture
def api_key(engine: Engine) -> str:
    """A channel's key with room for every example within the minute."""
    return make_client(engine, rate=channel_rules.RATE_HIGH).key


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_keeps_to_the_description(
    app: FastAPI, api_key: str, method: str, path: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {api_key}"}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def keeps_to_it(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    keeps_to_it()
