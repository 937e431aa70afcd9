"""Tools on the Offline provider: refused with a clear error unless the model's chat template
declares tool support; then the tools are rendered by the template and calls are read back
from the model's text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devsynth.application.llm.offline_provider import OfflineProvider
from devsynth.application.offline.tool_calls import split_tool_calls
from devsynth.errors import UnsupportedOperationError

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
# Hermes/Qwen style: the template lists the tools and renders earlier calls with object arguments.
TOOL_TEMPLATE = (
    "{% if tools %}<|tools|>{% for t in tools %}{{ t['function']['name'] }};{% endfor %}\n"
    "{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] or '' }}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function']['arguments']['city'] }}"
    "</tool_call>{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
ASK = [{"role": "user", "content": "Weather in Oslo?"}]


def offline(directory: Path, **params: object) -> OfflineProvider:
    return OfflineProvider(
        {"offline_provider": {"model_path": str(directory)}, "max_tokens": 4, **params}
    )


def test_without_a_model_tools_are_unsupported_with_a_clear_message() -> None:
    with pytest.raises(UnsupportedOperationError, match="no local model is configured"):
        OfflineProvider({}).complete(ASK, tools=[TOOL])


def test_a_model_without_a_chat_template_cannot_call_tools(cached_dir: Path) -> None:
    with pytest.raises(UnsupportedOperationError, match="does not declare tool support"):
        offline(cached_dir).complete(ASK, tools=[TOOL])


def test_a_template_that_never_reads_tools_cannot_call_tools(
    make_decoder_dir: Callable[..., Path],
) -> None:
    pytest.importorskip("jinja2")
    directory = make_decoder_dir(tokenizer_config={"chat_template": PLAIN_TEMPLATE})
    provider = offline(directory)
    with pytest.raises(UnsupportedOperationError, match="does not declare tool support"):
        provider.complete(ASK, tools=[TOOL])
    with pytest.raises(UnsupportedOperationError, match="does not declare tool support"):
        list(provider.stream_messages(ASK, tools=[TOOL]))
    assert provider.complete(ASK).text is not None  # without tools it still answers


def test_a_template_that_takes_tools_renders_them_and_earlier_calls(
    make_decoder_dir: Callable[..., Path],
) -> None:
    pytest.importorskip("jinja2")
    directory = make_decoder_dir(tokenizer_config={"chat_template": TOOL_TEMPLATE})
    provider = offline(directory)
    lm = provider.language_model
    assert lm is not None and lm.supports_tools
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "-3 C"},
    ]  # fmt: skip
    assert lm.chat_template is not None
    rendered = lm.chat_template.render(history, tools=[TOOL])
    assert rendered.startswith("<|tools|>get_weather;<|user|>")
    assert "<tool_call>Oslo</tool_call>" in rendered  # arguments reached it as an object
    result = provider.complete(ASK, tools=[TOOL])  # the tiny model reads 96 tokens at most
    assert result.provider == "offline" and result.tool_calls == ()


def test_response_format_is_refused_offline() -> None:
    with pytest.raises(UnsupportedOperationError, match="response_format"):
        OfflineProvider({}).complete(ASK, response_format={"type": "json_object"})


def test_hermes_tool_call_blocks_are_read_back_as_calls() -> None:
    text = (
        "Checking.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
        '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
    )
    rest, calls = split_tool_calls(text)
    assert rest == "Checking."
    assert [(c.id, c.name, c.parsed_arguments) for c in calls] == [
        ("call_0", "get_weather", {"city": "Oslo"}),
        ("call_1", "get_time", {}),
    ]


def test_a_broken_block_is_reported_not_dropped() -> None:
    rest, calls = split_tool_calls('<tool_call>{"name": "get_weather", "argu')
    assert rest == ""
    (call,) = calls
    assert call.arguments == '{"name": "get_weather", "argu'
    assert call.parsed_arguments is None and call.arguments_error


def test_text_without_blocks_is_left_alone() -> None:
    assert split_tool_calls("just text") == ("just text", ())
