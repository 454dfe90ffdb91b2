"""Checks on a client's request body before anything is routed: a bad field is a 400 naming it.

OpenAI-style errors (``{"error": {"message", "type": "invalid_request_error", "param", "code"}}``)
for: a body that is not JSON, nests deeper than ``MAX_DEPTH`` or holds an integer too long for
Python to read (over 4,300 digits); a non-finite number anywhere (NaN, Infinity, 1e400); ``model``
not a non-empty string; ``stream`` not a boolean; ``max_tokens`` / ``max_completion_tokens`` /
``n`` not an integer in range; a sampling parameter not a number in OpenAI's range (``temperature``
0 to 2, ``top_p`` 0 to 1, the two penalties -2 to 2); ``messages`` / ``prompt`` of the wrong shape
(`messages[i].role` missing or not a role, `content` missing or null but for an assistant's, or not
a string or a list of typed parts; a prompt not a string, nor a non-empty list of strings, of token
ids or of token-id lists: OpenAI's own 400s). A body declared other than JSON (``Content-Type:
text/plain``) is a 415; a missing Content-Type passes, as the body is read as JSON either way.
Nothing here raises past the handler, so a bad body never costs the client its keep-alive
connection.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fleetplan.router.json_codec import loads
from fleetplan.validation import is_json_type

MAX_DEPTH = 64  # JSON nesting; chat bodies need ~6
MAX_OUTPUT_TOKENS = 1_048_576  # above any model's context; 10^15 is a typo or an attack
MAX_N = 128
DEFAULT_OUTPUT_TOKENS = 256  # charged to tokens/min when a request names no limit
# sampling parameters and OpenAI's documented ranges (API reference, chat/create)
_NUMBERS = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
# OpenAI's chat roles ("function" is deprecated there, still accepted)
ROLES = ("system", "user", "assistant", "tool", "developer", "function")
# roles whose content may be null or left out: an assistant's tool call (OpenAI's schema has
# it nullable, and lets it go with `tool_calls`/`function_call`; not checked here), and the
# deprecated function message, nullable there too
NULL_CONTENT_ROLES = ("assistant", "function")
CONTENT_ACCEPTED = "a string or a list of content parts"
_NUMBER_CHARS = frozenset("-+.eE0123456789")
PROMPT_ACCEPTED = (
    "a string, or a non-empty list of strings, of token ids or of non-empty token-id lists"
)


class BadRequest(Exception):
    """A client request the gateway refuses (400, or `status`); `param` names the field."""

    def __init__(
        self, message: str, param: str | None, code: str = "invalid_value", status: int = 400
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


@dataclass(frozen=True)
class Checked:
    payload: dict[str, Any]
    model: str
    stream: bool
    max_output_tokens: int | None  # what the client asked for, if it did
    prompt_tokens_est: int  # an upper estimate (characters / 4 of the body)

    @property
    def tokens_est(self) -> int:
        """What the request may use at most, for admission against tokens/min."""
        return self.prompt_tokens_est + (self.max_output_tokens or DEFAULT_OUTPUT_TOKENS)


def _walk(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and non-finite floats, iteratively (no recursion)."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        v, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(
                f"{path or 'body'}: JSON nested deeper than {MAX_DEPTH} levels",
                path.split(".")[0].split("[")[0] or None,
                "too_deep",
            )
        if isinstance(v, float) and not math.isfinite(v):
            raise BadRequest(
                f"{path}: {v!r} is not a finite number", path.split(".")[0] or None, "not_finite"
            )
        if isinstance(v, dict):
            stack.extend((x, depth + 1, f"{path}.{k}" if path else str(k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, depth + 1, f"{path}[{i}]") for i, x in enumerate(v))


def _plainly_fine(value: Any) -> bool:
    """Whether `_walk` would pass `value` — without building a path for every node, which is
    only needed to name the field of a failure. Scalars are never put on the stack."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        kids = v.values() if isinstance(v, dict) else v
        if depth >= MAX_DEPTH and kids:  # its children are deeper than allowed
            return False
        for x in kids:
            if isinstance(x, dict | list):
                stack.append((x, depth + 1))
            elif isinstance(x, float) and not math.isfinite(x):
                return False
    return True


def _int_field(payload: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    v = payload.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(f"{name}: {_show(v)} is not an integer from {lo} to {hi:,}", name)
    return int(v)


def _show(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, float) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _outside_strings(text: str) -> Iterator[tuple[str, int, str | None]]:
    """Each character of JSON `text` outside its strings, with the nesting depth after it and
    the top-level key it falls under (a scan, only after a failure)."""
    depth, in_str, esc, key, last_str = 0, False, False, None, None
    start = 0
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
                last_str = text[start:i]
            continue
        if ch == '"':
            in_str, start = True, i + 1
            continue
        if ch == ":" and depth == 1:
            key = last_str
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        yield ch, depth, key


def _deep_field(raw: bytes) -> str | None:
    """The top-level field whose value nests past MAX_DEPTH."""
    for ch, depth, key in _outside_strings(raw.decode("utf-8", "replace")):
        if ch in "[{" and depth > MAX_DEPTH:
            return key
    return None


def _long_integer(raw: bytes, limit: int) -> tuple[str | None, int] | None:
    """The top-level field holding the first integer of more than `limit` digits, and its
    digits: the number `json` would not read. A fraction or an exponent makes a float, which
    has no such limit."""
    number, under = "", None
    for ch, _, key in _outside_strings(raw.decode("utf-8", "replace") + " "):
        if ch in _NUMBER_CHARS:
            number, under = number + ch, key
        elif number:
            digits = number.removeprefix("-")
            if digits.isdigit() and len(digits) > limit:
                return under, len(digits)
            number = ""
    return None


def parse_body(raw: bytes) -> Any:
    """JSON, with nesting too deep for the parser refused (naming the field) instead of a crash.
    NaN and Infinity parse here and are refused by `_walk`, which knows their field. Integers
    of any size within Python's limit on reading one (``sys.get_int_max_str_digits()``, 4,300
    digits unless set otherwise) are read exactly: `json_codec` leaves a run of 19 digits or
    more to the standard library, and no 64-bit limit applies; a longer one is refused."""
    try:
        return loads(raw)
    except RecursionError:
        field = _deep_field(raw)
        where = field or "body"
        raise BadRequest(
            f"{where}: JSON nested deeper than {MAX_DEPTH} levels", field, "too_deep"
        ) from None
    except ValueError as exc:
        limit = sys.get_int_max_str_digits()
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too: not JSON
        found = _long_integer(raw, limit) if type(exc) is ValueError and limit else None
        if found is None:
            raise BadRequest("body is not JSON", None, "bad_json") from None
        field, n = found
        raise BadRequest(
            f"{field or 'body'}: an integer of {n:,} digits; accepted: integers of up to "
            f"{limit:,} digits",
            field,
            "integer_too_long",
        ) from None


def check_content_type(given: str | None) -> None:
    """415 for a body declared as something other than JSON (application/json or a +json
    type). No header passes: the official clients always send one, and the body is read as
    JSON anyway, so a client that omits it loses nothing."""
    if given is None or is_json_type(given):
        return
    raise BadRequest(
        f"Content-Type {given[:100]!r}: the body must be JSON, sent with "
        "Content-Type: application/json",
        None,
        "unsupported_media_type",
        415,
    )


def check_messages(msgs: Any) -> None:
    """A chat request's `messages`: a non-empty list of objects, each with a role among
    `ROLES` and a content that is a string or a list of content parts (objects with a `type`:
    text, image_url, input_audio, ...); null or missing only in `NULL_CONTENT_ROLES`."""
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest("messages: give a non-empty list of message objects", "messages")
    roles = ", ".join(ROLES)
    for i, m in enumerate(msgs):
        at = f"messages[{i}]"
        if not isinstance(m, dict):
            msg = f"{at}: {_show(m)}; accepted: a message object with a role"
            raise BadRequest(msg, at, "invalid_type")
        role = m.get("role")
        if role is None:
            raise BadRequest(
                f"{at}.role: missing; accepted: {roles}", f"{at}.role", "missing_required_parameter"
            )
        if not isinstance(role, str) or role not in ROLES:
            raise BadRequest(f"{at}.role: {_show(role)}; accepted: {roles}", f"{at}.role")
        content = m.get("content")
        may_be_null = role in NULL_CONTENT_ROLES
        accepted = "a string, null or a list of content parts" if may_be_null else CONTENT_ACCEPTED
        if content is None and not may_be_null:
            if "content" in m:
                said, code = "null", "invalid_type"
            else:
                said, code = "missing", "missing_required_parameter"
            raise BadRequest(f"{at}.content: {said}; accepted: {accepted}", f"{at}.content", code)
        if content is None or isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise BadRequest(
                f"{at}.content: {_show(content)}; accepted: {accepted}",
                f"{at}.content",
                "invalid_type",
            )
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise BadRequest(
                    f"{at}.content[{j}]: {_show(part)}; accepted: a content part, an object "
                    'with a "type" (text, image_url, ...)',
                    f"{at}.content[{j}]",
                    "invalid_type",
                )


def _token(t: Any) -> bool:
    return isinstance(t, int) and not isinstance(t, bool) and t >= 0


def _same_kind(first: Any, p: Any) -> bool:
    """Whether prompt item `p` is of the kind the first item sets: a string, a token id or a
    non-empty list of token ids."""
    if isinstance(first, str):
        return isinstance(p, str)
    if isinstance(first, list):
        return isinstance(p, list) and bool(p) and all(map(_token, p))
    return _token(p)


def check_prompt(prompt: Any) -> None:
    """A completions request's `prompt`: see `PROMPT_ACCEPTED`."""
    if isinstance(prompt, str):
        return
    if not isinstance(prompt, list) or not prompt:
        raise BadRequest(f"prompt: {_show(prompt)}; accepted: {PROMPT_ACCEPTED}", "prompt")
    for j, p in enumerate(prompt):
        if not _same_kind(prompt[0], p):
            raise BadRequest(
                f"prompt[{j}]: {_show(p)}; accepted: {PROMPT_ACCEPTED}",
                f"prompt[{j}]",
                "invalid_type",
            )


def check(raw: bytes, path: str, content_type: str | None = None) -> Checked:
    """The checked request for endpoint `path` ("chat/completions" or "completions"), its body
    declared as `content_type` (the header, None when absent)."""
    check_content_type(content_type)
    payload = parse_body(raw)
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object", None, "bad_json")
    if not _plainly_fine(payload):
        _walk(payload)  # raises, naming the field
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("body needs a `model` string", "model", "no_model")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest(f"stream: {_show(stream)} is not true or false", "stream")
    outs = [
        _int_field(payload, f, 1, MAX_OUTPUT_TOKENS)
        for f in ("max_tokens", "max_completion_tokens")
    ]
    _int_field(payload, "n", 1, MAX_N)
    for name, (lo, hi) in _NUMBERS.items():
        v = payload.get(name)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi
        ):
            raise BadRequest(f"{name}: {_show(v)} is not a number from {lo} to {hi}", name)
    so = payload.get("stream_options")
    if so is not None and not isinstance(so, dict):
        raise BadRequest(f"stream_options: {_show(so)} is not an object", "stream_options")
    if path == "chat/completions":
        check_messages(payload.get("messages"))
    else:
        check_prompt(payload.get("prompt"))
    asked = [o for o in outs if o is not None]
    return Checked(
        payload=payload,
        model=model,
        stream=bool(stream),
        max_output_tokens=max(asked) if asked else None,
        prompt_tokens_est=len(raw) // 4,
    )
