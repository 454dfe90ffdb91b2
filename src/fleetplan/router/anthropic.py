"""An Anthropic Messages API upstream behind the OpenAI chat format the gateway speaks.

Requests: OpenAI chat bodies become ``POST {base_url}/messages`` bodies — system messages join
into ``system``, ``max_tokens`` (or ``max_completion_tokens``; the Messages API requires one)
passes through, ``stop`` becomes ``stop_sequences``, function tools become tools with an
``input_schema``; the key goes in ``x-api-key`` with ``anthropic-version``. Responses, streamed
or not, come back as OpenAI chat completions: text and tool calls, finish reasons mapped
(end_turn/stop_sequence → stop, max_tokens → length, tool_use → tool_calls, refusal →
content_filter) and usage as prompt/completion tokens — so failover across providers gives the
client one format. Reference: https://docs.anthropic.com/en/api/messages and
https://docs.anthropic.com/en/api/messages-streaming.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fleetplan.router.upstream import AttemptFailed, Outgoing

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _message(m: dict[str, Any]) -> dict[str, Any]:
    role = m.get("role")
    if role == "tool":
        block = {
            "type": "tool_result",
            "tool_use_id": m.get("tool_call_id", ""),
            "content": _text(m.get("content")),
        }
        return {"role": "user", "content": [block]}
    if role == "assistant" and m.get("tool_calls"):
        blocks: list[dict[str, Any]] = []
        if text := _text(m.get("content")):
            blocks.append({"type": "text", "text": text})
        for tc in m["tool_calls"]:
            fn = tc.get("function", {})
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {}
            blocks.append(
                {"type": "tool_use", "id": tc.get("id", ""), "name": fn.get("name"), "input": args}
            )
        return {"role": "assistant", "content": blocks}
    return {
        "role": "assistant" if role == "assistant" else "user",
        "content": _text(m.get("content")),
    }


def to_messages(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body as a Messages API body."""
    msgs = body.get("messages") or []
    system = "\n\n".join(
        _text(m.get("content")) for m in msgs if m.get("role") in ("system", "developer")
    )
    out: dict[str, Any] = {
        "model": body["model"],
        "messages": [_message(m) for m in msgs if m.get("role") not in ("system", "developer")],
        "max_tokens": body.get("max_tokens")
        or body.get("max_completion_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = system
    for k in ("temperature", "top_p"):
        if body.get(k) is not None:
            out[k] = body[k]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object"},
            }
            for t in body["tools"]
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
    if body.get("stream"):
        out["stream"] = True
    return out


def request(p: Any, path: str, body: dict[str, Any]) -> Outgoing:
    if path != "chat/completions":
        raise AttemptFailed(f"{p.name} speaks the Messages API: chat only", health=False)
    headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
    if key := p.api_key():
        headers["x-api-key"] = key
    content = json.dumps(to_messages(body)).encode()
    return Outgoing(f"{p.base_url}/messages", headers, content, p.timeouts.connect_s)


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def response_to_openai(data: Any) -> dict[str, Any]:
    """A Messages API response as an OpenAI chat completion."""
    if not isinstance(data, dict) or data.get("type") != "message":
        raise AttemptFailed("upstream answered 200 without a Messages API `message`")
    text, calls = [], []
    for block in data.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            fn = {"name": block.get("name"), "arguments": json.dumps(block.get("input") or {})}
            calls.append({"id": block.get("id"), "type": "function", "function": fn})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    u = data.get("usage") or {}
    return {
        "id": data.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model", ""),
        "choices": [
            {"index": 0, "message": message, "finish_reason": FINISH.get(data.get("stop_reason"))}
        ],
        "usage": _usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0)),
    }


def _event(obj: dict[str, Any]) -> tuple[bytes, str]:
    data = json.dumps(obj)
    return f"data: {data}\n\n".encode(), data


async def stream(
    events: AsyncIterator[tuple[bytes, str | None]], body: dict[str, Any]
) -> AsyncIterator[tuple[bytes, str | None]]:
    """Messages API stream events as OpenAI chat chunks, then a usage chunk and [DONE]."""
    base: dict[str, Any] = {"object": "chat.completion.chunk", "created": int(time.time())}
    n_in = n_out = 0
    finish: str | None = None
    tool_index: dict[int, int] = {}
    async for _raw, data in events:
        if data is None:
            continue
        try:
            ev = json.loads(data)
        except ValueError:
            yield b"data: {not json}\n\n", "{not json"  # the relay ends the stream as an error
            return
        kind = ev.get("type")
        if kind == "message_start":
            msg = ev.get("message") or {}
            base.update(id=msg.get("id", ""), model=msg.get("model", ""))
            n_in = int((msg.get("usage") or {}).get("input_tokens") or 0)
            delta = {"role": "assistant", "content": ""}
            yield _event(dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}]))
        elif kind == "content_block_start":
            block = ev.get("content_block") or {}
            if block.get("type") == "tool_use":
                i = tool_index.setdefault(int(ev.get("index", 0)), len(tool_index))
                call = {
                    "index": i,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                delta = {"tool_calls": [call]}
                yield _event(dict(base, choices=[{"index": 0, "delta": delta}]))
        elif kind == "content_block_delta":
            d = ev.get("delta") or {}
            if d.get("type") == "text_delta":
                delta = {"content": d.get("text", "")}
            elif d.get("type") == "input_json_delta":
                i = tool_index.get(int(ev.get("index", 0)), 0)
                call = {"index": i, "function": {"arguments": d.get("partial_json", "")}}
                delta = {"tool_calls": [call]}
            else:
                continue
            yield _event(dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}]))
        elif kind == "message_delta":
            finish = FINISH.get((ev.get("delta") or {}).get("stop_reason"))
            n_out = int((ev.get("usage") or {}).get("output_tokens") or n_out)
        elif kind == "message_stop":
            yield _event(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}]))
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _event(dict(base, choices=[], usage=_usage(n_in, n_out)))
            yield b"data: [DONE]\n\n", "[DONE]"
            return
        elif kind == "error":
            yield _event({"error": ev.get("error") or {"message": "error event"}})
            return
