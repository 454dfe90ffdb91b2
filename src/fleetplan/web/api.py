"""The HTTP API and the page: `POST /api/plan` answers what `fleetplan plan --json` prints.

Every JSON endpoint runs the matching command in-process (`bridge.run_cli`), so the API and the
command line cannot drift apart. Bad input is a 422 naming the field; bodies over the limit are
a 413; with a token set, `/api/*` needs `Authorization: Bearer TOKEN`; every response carries
the version in `X-Fleetplan-Version`.
"""

from __future__ import annotations

import json
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetplan.web.bridge import CliResult, options, run_cli
from fleetplan.web.checks import (
    check_body,
    check_scenario,
    detail,
    http_error,
    json_content,
    validation_error,
)
from fleetplan.web.jobs import Jobs

DEFAULT_MAX_BODY_BYTES = 1_000_000
BUILTIN_SCENARIO = "chat-8b.yaml"
CATALOGS = ("gpus", "models", "offers", "engines", "precisions")
CONFIG_NOTE = (
    "# model: the config.json pasted as config_json; save it as config.json beside this file\n"
)
# the scenario's fields as JSON (fleetplan/docs/scenario.md); empty = the built-in example
ScenarioBody = Annotated[dict[str, Any] | None, Body()]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fleetplan")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


class _Body(BaseModel):
    # as strict as a scenario file (scenario._M): "2" or true is not silently a number
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class FitBody(_Body):
    model: str = Field(description="Catalog model id or alias.")
    gpu: str | None = Field(None, description="GPU id; without it, every GPU.")
    precision: str = "auto"  # the format the model's weights ship in
    kv_precision: str = "auto"
    tp: int = Field(1, ge=1, le=64)
    context: int | None = Field(None, ge=1, le=10_000_000)
    engine: str = "vllm"
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)


class PerfBody(_Body):
    model: str
    gpu: str
    precision: str = "auto"  # the format the model's weights ship in
    kv_precision: str = "auto"
    tp: int = Field(1, ge=1, le=64)
    input_tokens: int = Field(512, ge=1, le=10_000_000)
    output_tokens: int = Field(256, ge=1, le=10_000_000)
    batch: str = Field("1,8,32,64,max", description="Comma-separated batch sizes or 'max'.")
    engine: str = "vllm"
    schedule: Literal["continuous", "static"] = "continuous"


class BreakevenBody(_Body):
    api: list[str] = Field(min_length=1, max_length=20, description="API models to compare.")
    gpu: str
    input_tokens: int = Field(ge=1, le=10_000_000)
    output_tokens: int = Field(ge=1, le=10_000_000)
    model: str | None = Field(None, description="Self-hosted model (capacity from perf).")
    precision: str = "auto"  # the format the model's weights ship in
    tp: int = Field(1, ge=1, le=64)
    min_replicas: int = Field(1, ge=1, le=10_000, description="Replicas kept at any volume.")
    provider: str | None = None
    pricing: str = "on-demand"
    usd_per_hour: float | None = Field(None, ge=0, le=10_000)
    capacity_req_per_hour: float | None = Field(None, gt=0, le=1e9)
    ops_usd_per_month: float = Field(0.0, ge=0, le=1e9)


class SimulateBody(BaseModel):
    """A simulator scenario, the fields of `fleetplan simulate`'s YAML file."""

    model_config = ConfigDict(extra="allow")


def _cli_response(res: CliResult, body_fields: list[str], tmp: str | None = None) -> Response:
    """A command's JSON as the response; its one-line error as a 422 naming the field."""
    if res.ok:
        return Response(res.stdout, media_type="application/json")
    message = res.error
    if tmp:  # the scenario's temporary file is ours, not the caller's
        message = re.sub(r"scenario file '[^']*':\s*", "", message).replace(tmp + "/", "")
    return JSONResponse({"detail": [detail(["body", *_blame(message, body_fields)], message)]}, 422)


def _blame(message: str, fields: list[str]) -> list[str]:
    """The body field a command's error names: `field 'slo.ttft_p95_ms'`, `--input-tokens`
    or `input_tokens`; the whole body when it names none."""
    m = re.search(r"field '([\w.\[\]]+)'", message)
    if m and m.group(1).split(".")[0] in fields:
        return m.group(1).split(".")
    for f in sorted(fields, key=len, reverse=True):
        flag = "--" + f.replace("_", "-")
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", message) or re.search(
            rf"(?<![\w.-]){re.escape(f)}(?![\w-])", message
        ):
            return [f]
    return []


class BodyLimit:
    """413 for a request body over the limit, declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.limit = app, max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._reject(scope, receive, send)
            return
        seen, rejected = 0, False

        async def counted() -> Any:
            nonlocal seen, rejected
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit and not rejected:
                rejected = True
                await self._reject(scope, receive, send)
                return {"type": "http.disconnect"}  # the app stops reading
            return message

        async def guarded_send(message: Any) -> None:
            if not rejected:  # after a 413 the app's own answer is dropped
                await send(message)

        await self.app(scope, counted, guarded_send)

    async def _reject(self, scope: Any, receive: Any, send: Any) -> None:
        msg = f"request body over the limit of {self.limit:,} bytes"
        await JSONResponse({"detail": msg}, 413)(scope, receive, send)


def _scenario(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A scenario body's fields and its pasted config.json, or a 422 (`check_scenario`)."""
    body = dict(body)
    config = body.pop("config_json", None)
    check_scenario(body, config)
    return body, config


def _scenario_dir(body: dict[str, Any], tmp: Path) -> Path:
    """Write a scenario body (and a pasted config.json) where `fleetplan plan` can read it."""
    body, config = _scenario(body)
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config), encoding="utf-8")
        body["model"] = "config.json"
    path = tmp / "scenario.yaml"
    path.write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    return path


def _checked_scenario(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`_scenario`'s fields and pasted config.json, or a 422 naming the field when `body` is not
    a scenario `fleetplan plan` would read (its schema; catalog names are the plan's to check)."""
    from fleetplan.errors import FleetplanError
    from fleetplan.scenario import parse_scenario

    scenario, config = _scenario(body)
    try:
        parse_scenario({**scenario, "model": "config.json"} if config else scenario, "body")
    except FleetplanError as exc:
        msg = str(exc).removeprefix("body: ")
        raise HTTPException(422, [detail(["body", *_blame(msg, list(scenario))], msg)]) from None
    return scenario, config


def _builtin_scenario() -> dict[str, Any]:
    import yaml

    text = resources.files("fleetplan.examples").joinpath(BUILTIN_SCENARIO).read_text("utf-8")
    return yaml.safe_load(text)


def create_app(
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_jobs: int = 4,
) -> FastAPI:
    """The web app: API under `/api`, OpenAPI at `/docs`, the page at `/`."""
    version = _version()
    app = FastAPI(
        title="fleetplan",
        version=version,
        description="Plan, price and route LLM inference. Each endpoint answers what the "
        "matching `fleetplan` command prints with `--json`.",
        dependencies=[Depends(json_content)],
    )
    jobs = Jobs(max_jobs=max_jobs)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)

    @app.middleware("http")
    async def _guard(request: Request, call_next: Any) -> Response:
        if (
            token
            and request.url.path.startswith("/api/")
            and request.headers.get("authorization") != f"Bearer {token}"
        ):
            resp: Response = JSONResponse(
                {"detail": "missing or wrong bearer token"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            resp = await call_next(request)
        resp.headers["X-Fleetplan-Version"] = version
        return resp

    @app.get("/api/version")
    def get_version() -> dict[str, str]:
        return {"version": version}

    @app.get("/api/example")
    def example() -> dict[str, Any]:
        """The built-in example scenario (what `fleetplan plan` runs without a file)."""
        return _builtin_scenario()

    @app.post("/api/plan")
    def plan(
        body: ScenarioBody = None,
        verify: bool = False,
        format: Literal["json", "md", "html"] = "json",
    ) -> Response:
        """Plan a scenario (body = the scenario's fields; empty = the built-in example).
        `config_json` may hold a pasted Hugging Face config.json instead of a catalog model."""
        with tempfile.TemporaryDirectory(prefix="fleetplan-web-") as tmp:
            args = ["plan"]
            if body:
                args.append(str(_scenario_dir(body, Path(tmp))))
            args += ["--format", format] + (["--verify"] if verify else [])
            res = run_cli(args)
        if format == "json" or not res.ok:
            return _cli_response(res, list(body or {}), tmp)
        media = "text/html" if format == "html" else "text/markdown"
        return Response(res.stdout, media_type=f"{media}; charset=utf-8")

    @app.post("/api/deploy")
    def deploy(body: ScenarioBody = None) -> Response:
        """The deployment bundle of `fleetplan plan --emit` as a zip file."""
        import io
        import zipfile

        with tempfile.TemporaryDirectory(prefix="fleetplan-web-") as tmp:
            out = Path(tmp) / "deploy"
            args = ["plan"]
            if body:
                args.append(str(_scenario_dir(body, Path(tmp))))
            res = run_cli([*args, "--json", "--emit", str(out)])
            if not res.ok or not out.is_dir():
                return _cli_response(res, list(body or {}), tmp)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(out.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(out).as_posix())
        return Response(
            buf.getvalue(),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="fleetplan-deploy.zip"'},
        )

    @app.post("/api/scenario.yaml")
    def scenario_yaml(body: ScenarioBody = None) -> Response:
        """A scenario body as the YAML file `fleetplan plan` reads; with a pasted config.json
        its `model` is `config.json`, the file to save beside it (plan takes no inline config)."""
        import yaml

        scenario, config = _checked_scenario(body) if body else (_builtin_scenario(), None)
        note = ""
        if config is not None:  # plan reads a pasted config.json by path, as /api/plan does
            scenario, note = {**scenario, "model": "config.json"}, CONFIG_NOTE
        text = note + yaml.safe_dump(scenario, sort_keys=False)
        return Response(
            text,
            media_type="application/yaml",
            headers={"Content-Disposition": 'attachment; filename="scenario.yaml"'},
        )

    @app.post("/api/fit")
    def fit(body: FitBody) -> Response:
        data = body.model_dump(exclude_none=True)
        check_body(data)
        return _cli_response(run_cli(["fit", "--json", *options(data, ("model",))]), list(data))

    @app.post("/api/perf")
    def perf(body: PerfBody) -> Response:
        data = body.model_dump(exclude_none=True)
        check_body(data)
        return _cli_response(run_cli(["perf", "--json", *options(data, ("model",))]), list(data))

    @app.post("/api/breakeven")
    def breakeven(body: BreakevenBody) -> Response:
        data = body.model_dump(exclude_none=True)
        check_body(data)
        return _cli_response(run_cli(["breakeven", "--json", *options(data)]), list(data))

    @app.get("/api/catalog/{kind}")
    def catalog(kind: str) -> Response:
        if kind not in CATALOGS:
            raise HTTPException(404, f"no catalog {kind!r}; accepted: {', '.join(CATALOGS)}")
        return _cli_response(run_cli([kind, "--json"]), [])

    @app.post("/api/simulate", status_code=202)
    def simulate(body: SimulateBody) -> dict[str, Any]:
        """Start a simulation job; poll `GET /api/simulate/{id}` for progress and the result."""
        data = body.model_dump()
        check_body(data)
        return jobs.submit(data).status()

    @app.get("/api/simulate/{job_id}")
    def simulate_status(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no simulation job {job_id!r}")
        return job.status()

    static = resources.files("fleetplan.web").joinpath("static")
    api_routes = [r for r in app.routes if isinstance(r, APIRoute)]
    app.mount("/", Page(api_routes, directory=str(static), html=True), name="static")
    return app


class Page(StaticFiles):
    """The page's files at "/", which get every request no route matched in full. An /api path
    is answered here instead of by the files (whose 405 named their own "GET, HEAD" for PUT
    /api/plan, and whose 404 made GET /api/plan look like no endpoint at all): 405 with the
    methods the routes hold that path for, else a JSON 404. The body is not read."""

    def __init__(self, api_routes: list[APIRoute], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_routes = api_routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await super().__call__(scope, receive, send)
            return
        allowed = {m for r in self.api_routes if r.path_regex.match(path) for m in r.methods}
        if allowed:
            headers = {"Allow": ", ".join(sorted(allowed))}
            resp = JSONResponse({"detail": "Method Not Allowed"}, 405, headers=headers)
        else:
            resp = JSONResponse({"detail": f"no API endpoint {path!r}; /docs lists them"}, 404)
        await resp(scope, receive, send)


def serve(host: str, port: int, token: str | None, json_logs: bool = False) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    extra: dict[str, Any] = {}
    if json_logs:
        from fleetplan.json_logs import json_log_config

        extra["log_config"] = json_log_config()
    uvicorn.run(create_app(token=token), host=host, port=port, log_level="info", **extra)
