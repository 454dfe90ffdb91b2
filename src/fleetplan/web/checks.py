"""The web API's checks on a request before a command runs, and the shape of their errors.

Every refusal is a 4xx whose `detail` lists `{"loc", "msg", "type"}` items: `loc` the field,
`msg` one line naming the field, the value and what is accepted (the wording of
`validation.describe_error`, the same as the command line's) — never the raw input echoed
back, which could be a megabyte long or a NaN that JSON cannot carry.
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetplan.catalog.hf_config import looks_like_path
from fleetplan.errors import InputError
from fleetplan.files import MAX_DEPTH, deep_path
from fleetplan.validation import describe_error, finite, is_json_type

# fields that name a file on the machine that reads the body: the web API reads no server files
# on a caller's behalf (a plan's config.json is pasted as `config_json` instead)
PATH_FIELDS = frozenset({"csv", "path", "forecast", "trace"})


def detail(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One item of a 422's `detail`."""
    return {"loc": loc, "msg": msg, "type": kind}


def _item(err: Any, body_model: Any = None) -> dict[str, Any]:
    loc = list(err["loc"])
    if err["type"] == "json_invalid":  # loc is ["body", character offset]
        why = (err.get("ctx") or {}).get("error", "not JSON")
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return detail(["body"], f"body is not JSON: {why}{where}", "json_invalid")
    shown = (
        {**err, "loc": loc[1:] or ["body"]} if loc and loc[0] in ("body", "query", "path") else err
    )
    # a body field past a bound also gets its whole range, from the route's body schema
    model = body_model if loc and loc[0] == "body" else None
    return detail(loc, describe_error(shown, model), err["type"])


def _body_model(request: Request) -> Any:
    """The pydantic model of the matched route's body, where it has one (None otherwise)."""
    field = getattr(request.scope.get("route"), "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if is_model else None


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A request FastAPI could not validate: 422 with one line per field."""
    assert isinstance(exc, RequestValidationError)
    model = _body_model(request)
    return JSONResponse({"detail": [_item(e, model) for e in exc.errors()]}, 422)


async def json_content(request: Request) -> None:
    """415 for a POST whose body is not declared JSON (FastAPI hands such a body to validation
    as bytes: "should be a valid dictionary", quoting it). An empty body declares nothing and
    passes, whatever its type: on plan, deploy and scenario.yaml it is the built-in example."""
    if request.method != "POST" or not await request.body():
        return
    given = request.headers.get("content-type")
    if given is not None and is_json_type(given):
        return
    what = f"Content-Type {given[:100]!r}" if given is not None else "no Content-Type"
    msg = f"{what}: the body must be JSON, sent with Content-Type: application/json"
    raise HTTPException(415, [detail(["header", "content-type"], msg, "unsupported_media_type")])


async def http_error(request: Request, exc: Exception) -> Any:
    """FastAPI's answer to an HTTPException, except its 400 "There was an error parsing the
    body" for a JSON body it could not decode: a 422 saying what is wrong with the body."""
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
        bad = cause.object[cause.start : cause.start + 1].hex()
        msg = (
            f"body is not UTF-8: byte 0x{bad} at position {cause.start} ({cause.reason}); "
            "accepted: a JSON object in UTF-8"
        )
        return JSONResponse({"detail": [detail(["body"], msg, "json_invalid")]}, 422)
    if exc.status_code == 400 and isinstance(cause, RecursionError):
        msg = (
            "body is nested too deeply to read (JSON's reader stops near "
            f"{sys.getrecursionlimit():,} levels, Python's recursion limit); "
            "accepted: a JSON object in UTF-8, nested a few levels"
        )
        return JSONResponse({"detail": [detail(["body"], msg, "json_too_deep")]}, 422)
    return await http_exception_handler(request, exc)


def check_body(data: Any, where: tuple[str, ...] = ()) -> None:
    """422 naming the first field of `data` that names a server file (a path field, or a
    `model` the catalog would read as a config.json path: `catalog.resolve_model`) or holds a
    number that is not finite (Python's json reads NaN, Infinity and 1e400)."""
    if isinstance(data, dict):
        for k, v in data.items():
            here = (*where, str(k))
            if k == "model" and isinstance(v, str) and looks_like_path(v):
                msg = (
                    f"model = {v!r}: the web API reads no files on the server; give a catalog "
                    "model id or alias (`fleetplan models`), or paste a config.json as config_json"
                )
                raise HTTPException(422, [detail(["body", *here], msg)])
            if k in PATH_FIELDS:
                msg = f"{k}: the web API reads no files on the server (give the data inline)"
                raise HTTPException(422, [detail(["body", *here], msg)])
            check_body(v, here)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            check_body(v, (*where, str(i)))
    elif isinstance(data, float):
        try:
            finite(".".join(where) or "body", data)
        except InputError as exc:
            raise HTTPException(422, [detail(["body", *where], str(exc))]) from None


def check_depth(data: Any, where: tuple[str, ...] = ()) -> None:
    """422 naming the field where `data` nests deeper than `files.MAX_DEPTH` levels, `data`
    itself the first: the limit `fleetplan plan` puts on a scenario file and a config.json,
    checked here so that the error names the body's field, not the file the API writes."""
    inner = deep_path(data)
    if inner is None:
        return
    path = (*where, *inner)
    root = where[0] if where else "the body"
    msg = (
        f"{path[0]}: nested deeper than {MAX_DEPTH} levels ({root} itself is level 1); "
        f"accepted: at most {MAX_DEPTH} levels, as in a file `fleetplan plan` reads"
    )
    raise HTTPException(422, [detail(["body", *path], msg)])


def check_scenario(body: dict[str, Any], config: Any) -> None:
    """422 for a scenario body's field that nests too deep, names a server file or holds a
    number that is not finite, or for its pasted `config_json` (`config`) that is not an object
    or has such a field."""
    check_depth(body)
    check_body(body)
    if config is not None and not isinstance(config, dict):
        raise HTTPException(422, [detail(["body", "config_json"], "expected a JSON object")])
    check_depth(config, ("config_json",))
    check_body(config, ("config_json",))
