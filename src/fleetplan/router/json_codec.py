"""JSON on the gateway's hot path: orjson where it gives the standard library's answer, the
standard library everywhere else.

orjson parses and writes a request body several times faster than ``json``, but it differs at
the edges: it refuses NaN, Infinity, 1e400, lone surrogates and nesting past 1024 (``json``
accepts the first four, and the request checks then refuse them naming the field), and it turns
integers past 64 bits into floats. So a text with a run of 19 or more digits, or one orjson
refuses, is parsed by ``json``; a value orjson cannot write (an integer past 64 bits, a lone
surrogate) is written by ``json``. What a request parses to, and what the checks say about it,
is the standard library's either way.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_BYTES = re.compile(rb"[0-9]{19}")
_LONG_STR = re.compile(r"[0-9]{19}")


def loads(text: bytes | str) -> Any:
    """Parse JSON as ``json.loads`` does (and raise what it raises)."""
    long = _LONG_STR if isinstance(text, str) else _LONG_BYTES
    if long.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps(obj: Any) -> bytes:
    """JSON bytes of `obj` (compact, UTF-8); NaN and Infinity never reach here (checked)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj).encode()
