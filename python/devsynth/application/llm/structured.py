"""Structured output: ``response_format`` in OpenAI's shape, one parsed object back.

``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": true}}`` or
``{"type": "json_object"}``. OpenAI and LM Studio take it as it is; Anthropic gets the
documented forced-tool technique (one tool whose input schema is the schema, and
``tool_choice`` naming it), and its input comes back as the same parsed object. Either way
``Completion.parsed`` holds the object and ``Completion.text`` the JSON text; a reply that
does not parse raises :class:`StructuredOutputError` carrying the raw text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from devsynth.domain.errors import ConfigurationError, StructuredOutputError

# The name of the forced tool when the response format names none (json_object).
DEFAULT_RESPONSE_TOOL = "json_response"
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class JsonRequest:
    """What a ``response_format`` asks for: JSON, matching ``schema`` when one is given."""

    name: str
    schema: Mapping[str, Any] | None
    description: str | None = None
    strict: bool | None = None

    def as_tool(self) -> dict[str, Any]:
        """The forced tool that carries the answer (Anthropic's JSON technique)."""
        tool: dict[str, Any] = {
            "name": self.name,
            "description": self.description
            or "Respond with the answer as this tool's input, matching its schema exactly.",
            "input_schema": dict(self.schema) if self.schema is not None else _ANY_OBJECT,
        }
        if self.strict is not None:
            tool["strict"] = self.strict
        return tool


def json_request(response_format: object) -> JsonRequest | None:
    """The JSON a ``response_format`` asks for; ``None`` for plain text (or none given)."""
    if response_format is None:
        return None
    if not isinstance(response_format, Mapping):
        raise ConfigurationError(
            f"response_format must be a mapping such as {{'type': 'json_schema', ...}}, got "
            f"{type(response_format).__name__}"
        )
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonRequest(DEFAULT_RESPONSE_TOOL, None)
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ConfigurationError(
                'response_format of type json_schema needs "json_schema": {"name": ..., '
                '"schema": {...}}'
            )
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, Mapping):
            raise ConfigurationError("response_format json_schema.schema must be a JSON schema")
        strict = spec.get("strict")
        return JsonRequest(
            spec["name"],
            schema,
            description=spec.get("description"),
            strict=bool(strict) if strict is not None else None,
        )
    raise ConfigurationError(
        f"response_format type {kind!r} is not known: use 'json_schema', 'json_object' or 'text'"
    )


def parse_json_reply(
    text: str,
    *,
    provider: str,
    finish_reason: str | None = None,
    refusal: str | None = None,
    request_id: str | None = None,
) -> Any:
    """The reply parsed as JSON; :class:`StructuredOutputError` (with the raw text) if it
    does not parse or the model refused."""
    if refusal:
        raise StructuredOutputError(
            f"The model refused to answer in the requested format: {refusal}",
            text=refusal,
            finish_reason=finish_reason,
            provider=provider,
            request_id=request_id,
        )
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        why = (
            "it was cut off by max_tokens (finish_reason=length); raise max_tokens"
            if finish_reason in ("length", "max_tokens")
            else str(exc)
        )
        raise StructuredOutputError(
            f"The reply should be JSON but does not parse: {why}. Raw text: {text[:200]!r}",
            text=text,
            finish_reason=finish_reason,
            provider=provider,
            request_id=request_id,
        ) from None


__all__ = ["DEFAULT_RESPONSE_TOOL", "JsonRequest", "json_request", "parse_json_reply"]
