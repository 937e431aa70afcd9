"""API keys never appear in a repr, a log line or an error message."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import pickle
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
from devsynth.application.llm.anthropic_provider import AnthropicProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.application.llm.secrets import redact
from devsynth.errors import AuthenticationError, ConfigurationError, ProviderError
from tests.support.llm_server import FakeServer, Reply, named_events, sse, stream_reply

OPENAI_KEY = "sk-proj-SECRETSECRET0123456789"
COMPLETION = {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}
ANTHROPIC_KEY = "sk-ant-api03-SECRETSECRET987654"


def assert_clean(text: str) -> None:
    assert OPENAI_KEY not in text
    assert ANTHROPIC_KEY not in text
    assert "SECRETSECRET" not in text


def test_config_and_provider_reprs(server: FakeServer) -> None:
    config = LLMProviderConfig(
        "openai",
        {"api_key": OPENAI_KEY, "api_base": server.url + "/v1"},
        fallback=[LLMProviderConfig("anthropic", {"api_key": ANTHROPIC_KEY})],
    )
    for text in (repr(config), str(config), f"{config}", repr([config])):
        assert_clean(text)
        assert "***" in text
    provider = LLMBackendAdapter().create_provider(config)
    assert_clean(repr(provider))
    for member in provider.providers:  # type: ignore[attr-defined]
        assert_clean(repr(member))
        assert_clean(repr(member.parameters))
        assert_clean(repr(member.http))
        assert_clean(str(vars(member.http)))
        assert_clean(str(vars(member)))


def test_error_messages_and_logs(
    server: FakeServer, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at DEBUG too
    echo = {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY} / {ANTHROPIC_KEY}"}}
    server.route("POST", "/v1/chat/completions", Reply(500, body=echo), Reply(401, body=echo))
    server.route("POST", "/v1/messages", Reply(429, body=echo, headers={"retry-after-ms": "1"}))
    openai = OpenAIProvider({"api_key": OPENAI_KEY, "api_base": server.url + "/v1", **fast})
    anthropic = AnthropicProvider({"api_key": ANTHROPIC_KEY, "api_base": server.url, **fast})
    errors: list[BaseException] = []
    with pytest.raises(AuthenticationError) as info:
        openai.generate("x")
    errors.append(info.value)
    with pytest.raises(ProviderError) as info2:
        anthropic.generate("x")
    errors.append(info2.value)
    with pytest.raises(ProviderError) as info3:
        asyncio.run(anthropic.agenerate("x"))
    errors.append(info3.value)
    server.route("POST", "/v1/chat/completions", stream_reply(sse(echo)))
    with pytest.raises(ProviderError) as info4:
        list(openai.stream("x"))
    errors.append(info4.value)
    for error in errors:
        assert_clean(str(error))
        assert_clean(repr(error))
        assert_clean(repr(error.args))
    assert caplog.records  # the retries were logged
    for record in caplog.records:
        assert_clean(record.getMessage())
    assert_clean(caplog.text)


# -- keys are cleaned where they enter, and never echoed ---------------------------------------

# Not shaped like any provider's key: only the provider's own masking can hide it.
FILE_KEY = "lm-secret-0123456789abcdef"


def openai(server: FakeServer, fast: dict[str, Any], key: str) -> OpenAIProvider:
    return OpenAIProvider({"api_key": key, "api_base": server.url + "/v1", **fast})


def test_a_key_read_from_a_file_loses_its_newline(
    server: FakeServer, fast: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "key.txt").write_text(FILE_KEY + "\n")
    server.route("POST", "/v1/chat/completions", Reply(body=COMPLETION))
    provider = openai(server, fast, (tmp_path / "key.txt").read_text())
    assert provider.generate("x") == "ok"
    assert server.requests[0].headers["authorization"] == f"Bearer {FILE_KEY}"


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (FILE_KEY[:10] + "\n" + FILE_KEY[10:], "a space"),
        (FILE_KEY[:10] + "\x00" + FILE_KEY[10:], "a control character"),
        (FILE_KEY[:10] + " " + FILE_KEY[10:], "a space"),
        (FILE_KEY[:10] + "é" + FILE_KEY[10:], "a non-ASCII character"),
    ],
)
def test_a_key_no_header_can_carry_is_refused_at_creation_without_echo(
    key: str, kind: str, server: FakeServer, fast: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError, match=f"api_key has {kind} at position 10") as info:
        openai(server, fast, key)
    assert FILE_KEY[:10] not in str(info.value) and FILE_KEY[11:] not in str(info.value)
    assert server.requests == []


def test_a_bad_key_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FILE_KEY + "\x07")
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY has a control character"):
        AnthropicProvider({})


ODD_KEY = "lm-s3cr3t/+=\\\"'~0123456789"  # every character an escape or an encoding changes


@pytest.mark.parametrize(
    "form",
    [
        ODD_KEY,
        repr(ODD_KEY),
        repr(ODD_KEY.encode()),
        repr(f"Bearer {ODD_KEY}\n".encode()),
        json.dumps(ODD_KEY),
        quote(ODD_KEY, safe=""),
        quote_plus(ODD_KEY),
        ODD_KEY.encode("unicode_escape").decode(),
    ],
)
def test_redact_masks_the_key_in_every_form(form: str) -> None:
    text = redact(f"the server said: {form}!", [ODD_KEY])
    assert "s3cr3t" not in text and "0123456789" not in text
    assert text.startswith("the server said: ") and "***" in text


def test_an_echoed_key_in_any_form_never_reaches_the_message(
    server: FakeServer, fast: dict[str, Any]
) -> None:
    message = f"bad key {ODD_KEY} or {quote(ODD_KEY, safe='')} or {ODD_KEY.encode()!r}"
    server.route("POST", "/v1/chat/completions", Reply(401, body={"error": {"message": message}}))
    with pytest.raises(AuthenticationError) as info:
        openai(server, fast, ODD_KEY).generate("x")
    assert "s3cr3t" not in str(info.value)
    assert "bad key ***" in str(info.value)


# -- logs, traceback locals and pickles ---------------------------------------------------------


def test_a_key_echoed_in_a_response_header_stays_out_of_httpcores_debug_log(
    server: FakeServer, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.route(
        "POST",
        "/v1/chat/completions",
        lambda request: Reply(
            body=COMPLETION, headers={"x-echo": request.headers["authorization"]}
        ),
    )
    provider = openai(server, fast, FILE_KEY)
    assert provider.generate("x") == "ok"
    assert asyncio.run(provider.agenerate("x")) == "ok"
    headers_logged = [
        r for r in caplog.records if "receive_response_headers.complete" in r.getMessage()
    ]
    assert len(headers_logged) == 2  # httpcore did log the headers, twice
    assert "x-echo" in caplog.text and "Bearer ***" in caplog.text
    assert FILE_KEY not in caplog.text


def test_a_key_echoed_in_an_error_body_is_in_no_traceback_local(
    server: FakeServer, fast: dict[str, Any]
) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {FILE_KEY}"}}
    server.route("POST", "/v1/chat/completions", Reply(401, body=echo))
    server.route("POST", "/v1/messages", Reply(401, body=echo))
    failures: list[BaseException] = []
    for provider in (
        openai(server, fast, FILE_KEY),
        AnthropicProvider({"api_key": FILE_KEY, "api_base": server.url, **fast}),
    ):
        for call in (
            provider.generate,
            lambda p, provider=provider: asyncio.run(provider.agenerate(p)),
        ):
            with pytest.raises(AuthenticationError) as info:
                call("x")
            failures.append(info.value)
    for failure in failures:
        stack = traceback.TracebackException.from_exception(failure, capture_locals=True).stack
        ours = [frame for frame in stack if "/devsynth/" in frame.filename]
        assert ours  # the frames of the package, from the provider down to the transport
        for frame in ours:
            assert FILE_KEY not in repr(frame.locals), (frame.name, frame.locals)
        assert "Incorrect API key provided: ***" in str(failure)


def test_providers_refuse_to_be_pickled_or_copied(server: FakeServer, fast: dict[str, Any]) -> None:
    providers = [
        openai(server, fast, FILE_KEY),
        AnthropicProvider({"api_key": FILE_KEY, "api_base": server.url}),
    ]
    for provider in providers:
        with pytest.raises(TypeError, match=r"cannot be pickled.*Pass its configuration"):
            pickle.dumps(provider)
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.deepcopy(provider)
        with pytest.raises(TypeError, match="never pickled"):
            pickle.dumps(provider.http)  # type: ignore[attr-defined]


# -- every provider type, the new ones too ----------------------------------------------------

KEY = "sk-live-SECRETSECRET-0123456789"
# provider type -> (api_base suffix, chat path)
TYPES = {
    "openai": ("/v1", "/v1/chat/completions"),
    "openrouter": ("/api/v1", "/api/v1/chat/completions"),
    "lmstudio": ("/v1", "/v1/chat/completions"),
    "anthropic": ("", "/v1/messages"),
}


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_no_provider_type_shows_its_key(
    kind: str, server: FakeServer, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    suffix, path = TYPES[kind]
    echo = {"error": {"message": f"bad key {KEY}", "type": "invalid_request_error"}}
    adapter = LLMBackendAdapter()
    provider: Any = adapter.create_provider(
        kind, {"api_base": server.url + suffix, "api_key": KEY, "auto_select_model": False, **fast}
    )
    for text in (repr(provider), repr(provider.parameters), str(vars(provider))):
        assert KEY not in text
    assert KEY not in repr(provider.http) and KEY not in str(vars(provider.http))

    errors: list[BaseException] = []
    error_event = (
        named_events(("error", {"type": "error", **echo})) if kind == "anthropic" else sse(echo)
    )
    replies = [
        Reply(500, body=echo),  # retried, so logged
        Reply(401, body=echo),
        Reply(200, body=echo),  # an error inside a 200
        stream_reply(error_event),  # an error event mid-stream
    ]
    for reply in replies:
        server.route("POST", path, reply)
        with pytest.raises(ProviderError) as info:
            if reply.chunks is None:
                provider.generate("x")
            else:
                list(provider.stream("x"))
        errors.append(info.value)
        with pytest.raises(ProviderError) as ainfo:
            if reply.chunks is None:
                asyncio.run(provider.agenerate("x"))
            else:
                asyncio.run(_drain(provider.generate_stream("x")))
        errors.append(ainfo.value)
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error) and KEY not in repr(error.args)
        assert "SECRETSECRET" not in str(error)
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert "SECRETSECRET" not in caplog.text
    for record in caplog.records:
        assert "SECRETSECRET" not in record.getMessage()


async def _drain(chunks: Any) -> None:
    async for _ in chunks:
        pass


def test_the_devsynth_factory_form_hides_keys_too(server: FakeServer, fast: Any) -> None:
    provider: Any = LLMBackendAdapter().create_provider(
        "openrouter", {"api_key": KEY, "api_base": server.url + "/api/v1", **fast}
    )
    assert KEY not in repr(provider) and KEY not in str(provider.parameters)
    assert provider.parameters.get("api_key") is None  # kept in one private place only
