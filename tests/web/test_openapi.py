"""The OpenAPI document declares what the API answers when it refuses: problem details."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_every_operation_declares_problem_details_for_its_errors(client: TestClient) -> None:
    """FastAPI declared its own 422 shape, which Abasto never sends; a client (or a fuzzer)
    validating the answers found every refusal off the document."""
    document = client.get("/openapi.json").json()
    operations = [op for item in document["paths"].values() for op in item.values()]

    assert operations
    for operation in operations:
        responses = operation["responses"]
        assert "422" not in responses
        for status in ("4XX", "5XX"):
            (media_type,) = responses[status]["content"]
            assert media_type == "application/problem+json"
            assert responses[status]["content"][media_type]["schema"] == {
                "$ref": "#/components/schemas/ProblemDetails"
            }
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ProblemDetails"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
    }


def test_a_refusal_matches_the_declared_problem(client: TestClient) -> None:
    refused = client.get("/api/v1/claves?page=0")

    assert refused.status_code == 422
    assert set(refused.json()) <= {"type", "title", "status", "detail", "instance", "errors"}
    assert refused.json()["errors"][0]["field"] == "query.page"
