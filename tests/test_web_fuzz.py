"""Fuzz the JSON API from its own OpenAPI document (schemathesis): no input gives a server error."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from app.web.app import create_app  # noqa: E402
from app.web.config import WebConfig  # noqa: E402


@pytest.fixture
def web_schema(store):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(store, WebConfig(limits={})))


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_never_answers_with_a_server_error(case):
    response = case.call_and_validate(checks=[not_a_server_error])
    assert "Traceback" not in response.text
