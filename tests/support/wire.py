"""Replies in each provider's real wire format, built from the official SDKs' own types.

A test (or the tools tour) describes what the model says as a :class:`Turn`: text, thinking,
tool calls, usage. The renderers build it with ``openai`` and ``anthropic`` (test-only
dependencies, never used to reach a network) so every fixture is checked by the SDK's own
pydantic models, then dump the wire JSON: a whole reply, or the stream as SSE bytes cut into
the fragments a real server sends (argument text split mid-token, parallel calls interleaved).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anthropic.types import (
    InputJSONDelta,
    Message,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)
from anthropic.types import Usage as AnthropicUsage
from anthropic.types.output_tokens_details import OutputTokensDetails
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.completion_usage import CompletionTokensDetails, CompletionUsage

from tests.support.llm_server import Recorded, Reply, named_events, sse, stream_reply


@dataclass
class Call:
    """A tool call the model makes: ``arguments`` is the raw text (may be broken JSON)."""

    id: str
    name: str
    arguments: str


@dataclass
class Turn:
    """What the model says in one reply."""

    text: str = ""
    calls: list[Call] = field(default_factory=list)
    thinking: str = ""
    signature: str = ""
    prompt_tokens: int = 20
    completion_tokens: int = 10
    reasoning_tokens: int | None = None
    refusal: str | None = None
    finish_reason: str | None = None  # default: from the content
    model: str = "test-model"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_unset=True)  # type: ignore[no-any-return]


# -- OpenAI ---------------------------------------------------------------------------------


def _openai_usage(turn: Turn) -> CompletionUsage:
    details = (
        CompletionTokensDetails(reasoning_tokens=turn.reasoning_tokens)
        if turn.reasoning_tokens is not None
        else None
    )
    return CompletionUsage(
        prompt_tokens=turn.prompt_tokens,
        completion_tokens=turn.completion_tokens,
        total_tokens=turn.prompt_tokens + turn.completion_tokens,
        completion_tokens_details=details,
    )


def _openai_finish(turn: Turn) -> Any:
    return turn.finish_reason or ("tool_calls" if turn.calls else "stop")


def openai_completion(turn: Turn) -> dict[str, Any]:
    """A whole ``chat.completion`` body."""
    # Reasoning text as DeepSeek, vLLM and LM Studio send it (an extra field to OpenAI's type).
    reasoning = {"reasoning_content": turn.thinking} if turn.thinking else {}
    message = ChatCompletionMessage(
        role="assistant",
        content=turn.text or None,
        refusal=turn.refusal,
        **reasoning,
        tool_calls=[
            ChatCompletionMessageFunctionToolCall(
                id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments)
            )
            for c in turn.calls
        ]
        or None,
    )
    body = ChatCompletion(
        id="chatcmpl-test",
        object="chat.completion",
        created=1_700_000_000,
        model=turn.model,
        choices=[Choice(index=0, message=message, finish_reason=_openai_finish(turn))],
        usage=_openai_usage(turn),
    )
    return _dump(body)


def _chunk(turn: Turn, delta: ChoiceDelta | None, finish: Any = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [ChunkChoice(index=0, delta=delta, finish_reason=finish)]
    chunk = ChatCompletionChunk(
        id="chatcmpl-test",
        object="chat.completion.chunk",
        created=1_700_000_000,
        model=turn.model,
        choices=choices,
        **extra,
    )
    return sse(_dump(chunk))


def openai_stream(turn: Turn, size: int = 4) -> bytes:
    """The SSE stream of a reply: text in pieces, each call's id and name in its first
    fragment, then its arguments in ``size``-character pieces, the calls' fragments
    interleaved (call 0, call 1, call 0, ...), then the usage chunk and ``[DONE]``."""
    out = [_chunk(turn, ChoiceDelta(role="assistant", content=""))]
    out += [
        _chunk(turn, ChoiceDelta(reasoning_content=p))  # type: ignore[call-arg]
        for p in _pieces(turn.thinking, size)
        if p
    ]
    out += [_chunk(turn, ChoiceDelta(content=p)) for p in _pieces(turn.text, size) if p]
    if turn.refusal:
        out.append(_chunk(turn, ChoiceDelta(refusal=turn.refusal)))
    for i, c in enumerate(turn.calls):
        first = ChoiceDeltaToolCall(
            index=i,
            id=c.id,
            type="function",
            function=ChoiceDeltaToolCallFunction(name=c.name, arguments=""),
        )
        out.append(_chunk(turn, ChoiceDelta(tool_calls=[first])))
    pieces = [_pieces(c.arguments, size) for c in turn.calls]
    for step in range(max((len(p) for p in pieces), default=0)):
        for i, call_pieces in enumerate(pieces):
            if step < len(call_pieces) and call_pieces[step]:
                fragment = ChoiceDeltaToolCall(
                    index=i, function=ChoiceDeltaToolCallFunction(arguments=call_pieces[step])
                )
                out.append(_chunk(turn, ChoiceDelta(tool_calls=[fragment])))
    out.append(_chunk(turn, ChoiceDelta(), _openai_finish(turn)))
    out.append(_chunk(turn, None, usage=_openai_usage(turn)))
    out.append(sse("[DONE]"))
    return b"".join(out)


# -- Anthropic ------------------------------------------------------------------------------


def _anthropic_stop(turn: Turn) -> Any:
    return turn.finish_reason or ("tool_use" if turn.calls else "end_turn")


def _anthropic_usage(turn: Turn, cls: Any = AnthropicUsage) -> Any:
    details = (
        OutputTokensDetails(thinking_tokens=turn.reasoning_tokens)
        if turn.reasoning_tokens is not None
        else None
    )
    return cls(
        input_tokens=turn.prompt_tokens,
        output_tokens=turn.completion_tokens,
        output_tokens_details=details,
    )


def _blocks(turn: Turn) -> list[Any]:
    blocks: list[Any] = []
    if turn.thinking:
        blocks.append(
            ThinkingBlock(type="thinking", thinking=turn.thinking, signature=turn.signature)
        )
    if turn.text:
        blocks.append(TextBlock(type="text", text=turn.text))
    for c in turn.calls:
        blocks.append(
            ToolUseBlock(type="tool_use", id=c.id, name=c.name, input=json.loads(c.arguments))
        )
    return blocks


def anthropic_message(turn: Turn) -> dict[str, Any]:
    """A whole Messages API reply."""
    message = Message(
        id="msg_test",
        type="message",
        role="assistant",
        model=turn.model,
        content=_blocks(turn),
        stop_reason=_anthropic_stop(turn),
        usage=_anthropic_usage(turn),
    )
    return _dump(message)


def anthropic_stream(turn: Turn, size: int = 4) -> bytes:
    """The event stream of a reply: a thinking block (thinking_delta pieces, then one
    signature_delta), a text block, then one tool_use block per call with its input as
    input_json_delta pieces (the raw text, so broken JSON streams as it would)."""
    events: list[tuple[str, Any]] = []
    start = Message(
        id="msg_test",
        type="message",
        role="assistant",
        model=turn.model,
        content=[],
        stop_reason=None,
        usage=AnthropicUsage(input_tokens=turn.prompt_tokens, output_tokens=1),
    )
    events.append(("message_start", RawMessageStartEvent(type="message_start", message=start)))
    index = 0

    def block(start_block: Any, deltas: Sequence[Any]) -> None:
        nonlocal index
        events.append(
            (
                "content_block_start",
                RawContentBlockStartEvent(
                    type="content_block_start", index=index, content_block=start_block
                ),
            )
        )
        for delta in deltas:
            events.append(
                (
                    "content_block_delta",
                    RawContentBlockDeltaEvent(type="content_block_delta", index=index, delta=delta),
                )
            )
        events.append(
            ("content_block_stop", RawContentBlockStopEvent(type="content_block_stop", index=index))
        )
        index += 1

    if turn.thinking:
        block(
            ThinkingBlock(type="thinking", thinking="", signature=""),
            [ThinkingDelta(type="thinking_delta", thinking=p) for p in _pieces(turn.thinking, size)]
            + [SignatureDelta(type="signature_delta", signature=turn.signature)],
        )
    if turn.text:
        block(
            TextBlock(type="text", text=""),
            [TextDelta(type="text_delta", text=p) for p in _pieces(turn.text, size)],
        )
    for c in turn.calls:
        block(
            ToolUseBlock(type="tool_use", id=c.id, name=c.name, input={}),
            [
                InputJSONDelta(type="input_json_delta", partial_json=p)
                for p in _pieces(c.arguments, size)
            ],
        )
    events.append(
        (
            "message_delta",
            RawMessageDeltaEvent(
                type="message_delta",
                delta={"stop_reason": _anthropic_stop(turn)},  # type: ignore[arg-type]
                usage=_anthropic_usage(turn, MessageDeltaUsage),
            ),
        )
    )
    events.append(("message_stop", RawMessageStopEvent(type="message_stop")))
    return named_events(*[(name, _dump(event)) for name, event in events])


# -- servers that answer by what they receive ---------------------------------------------


Script = Callable[[dict[str, Any]], Turn]


def openai_handler(script: Script) -> Callable[[Recorded], Reply]:
    """A chat-completions route answering each request with ``script(request body)``."""

    def handle(request: Recorded) -> Reply:
        body = request.json()
        turn = script(body)
        if body.get("stream"):
            return stream_reply(openai_stream(turn))
        return Reply(body=openai_completion(turn))

    return handle


def anthropic_handler(script: Script) -> Callable[[Recorded], Reply]:
    """A Messages API route answering each request with ``script(request body)``."""

    def handle(request: Recorded) -> Reply:
        body = request.json()
        turn = script(body)
        if body.get("stream"):
            return stream_reply(anthropic_stream(turn))
        return Reply(body=anthropic_message(turn))

    return handle
