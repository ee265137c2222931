"""JSON request bodies parsed by hand, for hot endpoints that skip the framework's body handling.

``parse_json_body`` validates the raw bytes in one pass and fails exactly like the framework
would (``RequestValidationError`` → the usual 422 in the user's language); ``json_body_doc``
keeps such an endpoint's request body documented in the OpenAPI description.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_json_body(model: type[M], content_type: str | None, raw: bytes) -> M:
    """``raw`` validated as ``model``; a body that is not JSON is refused, not guessed at."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise RequestValidationError(
            [{"loc": ("body",), "type": "content_type", "msg": "expected application/json"}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` for ``model`` with its nested models written inline."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {"required": True, "content": {"application/json": {"schema": inline(schema)}}}
