"""The hot path's JSON (orjson with the standard library behind it) parses what `json` parses,
to the same values, and refuses what it refuses."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetplan.router.json_codec import dumps, loads

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


def _same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN, ints and floats told apart."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[attr-defined]
    return a == b


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_loads_is_the_standard_librarys(value):
    text = json.dumps(value)
    assert _same(loads(text), json.loads(text))
    assert _same(loads(text.encode()), json.loads(text))
    assert _same(loads(dumps(value)), value) if _finite(value) else True


def _finite(v: object) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list):
        return all(map(_finite, v))
    if isinstance(v, dict):
        return all(map(_finite, v.values()))
    return True


@pytest.mark.parametrize(
    "text",
    [
        "1e400",
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": 123456789012345678901234567890}',
        '{"a": -9223372036854775809}',
        '{"a": ' + "1" * 5000 + "}",  # past Python's 4,300-digit limit: ValueError
        '"\\ud800"',
        "[" * 2000 + "]" * 2000,
        '{"a": 1, "a": 2}',
        "\ufeff{}",
    ],
)
def test_the_edges_orjson_refuses_or_rounds_are_the_standard_librarys(text):
    try:
        want = json.loads(text)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            loads(text)
        return
    assert _same(loads(text), want)


def test_integers_past_64_bits_are_exact_and_past_4300_digits_refused_as_json_does():
    """orjson reads an integer past 64 bits as a float (25 nines: 1e25); a run of 19 digits
    sends the text to `json`, which reads it exactly, bytes or str, and refuses one longer than
    Python's limit on reading an integer (4,300 digits) with a ValueError, not a JSONDecodeError."""
    import orjson

    big = 10**25 - 1
    assert isinstance(orjson.loads(str(big)), float)
    for text in (f"[{big}]", f"[{big}]".encode()):
        assert loads(text) == [big] and isinstance(loads(text)[0], int)
    for text in ("[" + "1" * 5000 + "]", b"[" + b"1" * 5000 + b"]"):
        with pytest.raises(ValueError, match="4300 digits") as caught:
            loads(text)
        assert type(caught.value) is ValueError


def test_dumps_writes_what_orjson_cannot():
    assert json.loads(dumps({"seed": 2**70, "s": "\ud800"})) == {"seed": 2**70, "s": "\ud800"}
    assert json.loads(dumps({"t": "é", "x": [1.5, None, True]})) == {
        "t": "é",
        "x": [1.5, None, True],
    }


def _nested(depth: int, leaf: object) -> object:
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


@settings(max_examples=300, deadline=None)
@given(
    VALUES,
    st.integers(min_value=0, max_value=70),
    st.sampled_from([[], {}, 1, float("nan"), float("inf"), "x"]),
)
def test_the_request_checks_fast_path_passes_exactly_what_the_full_walk_passes(v, depth, leaf):
    from fleetplan.router.request_check import BadRequest, _plainly_fine, _walk

    for value in ({"a": v}, {"a": v, "deep": _nested(depth, leaf)}):
        try:
            _walk(value)
            passes = True
        except BadRequest:
            passes = False
        assert _plainly_fine(value) is passes
