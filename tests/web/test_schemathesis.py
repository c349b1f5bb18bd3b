"""Schemathesis against the API's own OpenAPI document: no server errors, answers that
match the schema. Bounded examples per operation, so the run stays well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy.orm import Session

from .conftest import ADMIN, ORG_A, bearer

EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 10, schemathesis.GenerationMode.NEGATIVE: 5}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_the_api_survives_its_own_schema(
    app: FastAPI, session: Session, mode: schemathesis.GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    auth = bearer(session, ADMIN)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:
        # Half the cases name a real organisation, so the deeper code runs too.
        fixed = {"orgnr": ORG_A} if "{orgnr}" in operation.path else None
        cases = st.one_of(
            operation.as_strategy(generation_mode=mode, path_parameters=fixed),
            operation.as_strategy(generation_mode=mode),
        )

        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def exercise(case: schemathesis.Case) -> None:
            headers = {**auth, "Accept-Language": "en"}
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        exercise()
