"""The HTTP API through an HTTP client: every endpoint, bad input (422 naming the field), the
body limit, the bearer token and the version header; the plan equals `fleetplan plan --json`."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from fleetplan.web import create_app

SIM = {
    "model": "llama-3.1-8b",
    "gpu": "h100",
    "replicas": 1,
    "arrivals": {"kind": "poisson", "rate_per_s": 5, "duration_s": 20},
    "lengths": {"input": {"mean": 256}, "output": {"mean": 64}},
    "seed": 3,
}


CONFIG = {  # a pasted Hugging Face config.json (Llama 3.1 8B)
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(max_body_bytes=200_000))


def _strip_timing(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "search_s"}


def test_plan_is_what_the_cli_prints(client: TestClient, cli) -> None:
    r = client.post("/api/plan")
    assert r.status_code == 200
    assert r.headers["x-fleetplan-version"]
    cli_out = cli("plan", "--json")
    assert cli_out.code == 0
    assert _strip_timing(r.json()) == _strip_timing(cli_out.json())


def test_plan_body_changes_the_answer(client: TestClient) -> None:
    base = client.get("/api/example").json()
    small = client.post("/api/plan", json=base).json()["recommended"]
    base["traffic"]["peak_qps"] = base["traffic"]["peak_qps"] * 4
    big = client.post("/api/plan", json=base).json()["recommended"]
    assert big["usd_per_month"] > small["usd_per_month"]


def test_plan_bad_field_is_422_naming_it(client: TestClient) -> None:
    body = client.get("/api/example").json()
    body["slo"]["ttft_p95_ms"] = -5
    r = client.post("/api/plan", json=body)
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "slo", "ttft_p95_ms"]
    assert "ttft_p95_ms" in d["msg"] and "/tmp" not in d["msg"]
    r2 = client.post("/api/plan", json={**body, "no_such_field": 1})
    assert r2.status_code == 422 and "no_such_field" in r2.text


def test_plan_with_a_pasted_config_json(client: TestClient) -> None:
    body = client.get("/api/example").json()
    body["config_json"] = CONFIG
    r = client.post("/api/plan", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["recommended"] is not None
    r2 = client.post("/api/plan", json={**body, "config_json": [1, 2]})
    assert r2.status_code == 422 and r2.json()["detail"][0]["loc"] == ["body", "config_json"]


def test_reports_bundle_and_yaml(client: TestClient) -> None:
    md = client.post("/api/plan?format=md")
    assert md.status_code == 200 and md.text.startswith("# Plan")
    html = client.post("/api/plan?format=html")
    assert html.status_code == 200 and "<html" in html.text.lower()
    z = client.post("/api/deploy")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert any(n.startswith("k8s/") for n in names)
    y = client.post("/api/scenario.yaml")
    assert y.status_code == 200 and "model:" in y.text


def test_fit_perf_breakeven_and_their_errors(client: TestClient, cli) -> None:
    perf = client.post("/api/perf", json={"model": "llama-3.1-8b", "gpu": "h100", "batch": "1,8"})
    assert perf.status_code == 200
    assert (
        perf.json()
        == cli("perf", "llama-3.1-8b", "--gpu", "h100", "--batch", "1,8", "--json").json()
    )
    bad_gpu = client.post("/api/perf", json={"model": "llama-3.1-8b", "gpu": "nope"})
    assert bad_gpu.status_code == 422 and bad_gpu.json()["detail"][0]["loc"] == ["body", "gpu"]
    bad_tp = client.post("/api/perf", json={"model": "llama-3.1-8b", "gpu": "h100", "tp": "x"})
    assert bad_tp.status_code == 422 and bad_tp.json()["detail"][0]["loc"] == ["body", "tp"]
    fit = client.post("/api/fit", json={"model": "llama-3.1-8b", "gpu": "h100"})
    assert fit.status_code == 200 and fit.json()["model"] == "llama-3.1-8b"
    be = client.post(
        "/api/breakeven",
        json={
            "api": ["gpt-4o-mini"],
            "gpu": "h100",
            "input_tokens": 500,
            "output_tokens": 200,
            "model": "llama-3.1-8b",
        },
    )
    assert be.status_code == 200 and be.json()[0]["api"].endswith("gpt-4o-mini")
    be_bad = client.post("/api/breakeven", json={"api": [], "gpu": "h100", "input_tokens": 5})
    assert be_bad.status_code == 422
    locs = {tuple(d["loc"]) for d in be_bad.json()["detail"]}
    assert ("body", "api") in locs and ("body", "output_tokens") in locs


@pytest.mark.parametrize("kind", ["gpus", "models", "offers", "engines", "precisions"])
def test_catalogs(client: TestClient, kind: str, cli) -> None:
    r = client.get(f"/api/catalog/{kind}")
    assert r.status_code == 200 and r.json() == cli(kind, "--json").json()


def test_unknown_catalog_is_404(client: TestClient) -> None:
    assert client.get("/api/catalog/nope").status_code == 404


def test_simulate_job_reports_progress_and_result(client: TestClient) -> None:
    r = client.post("/api/simulate", json=SIM)
    assert r.status_code == 202
    job = r.json()
    assert job["state"] in ("queued", "running", "done") and job["expected_requests"] == 100
    deadline = time.monotonic() + 60
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/simulate/{job['job_id']}").json()
    assert job["state"] == "done", job
    assert job["progress"] == 1.0
    assert job["result"]["requests"] > 0 and "windows" in job["result"]
    assert client.get("/api/simulate/nope").status_code == 404


def test_simulate_refuses_unbounded_work_and_bad_fields(client: TestClient) -> None:
    huge = {**SIM, "arrivals": {"kind": "poisson", "rate_per_s": 1000, "duration_s": 86400}}
    r = client.post("/api/simulate", json=huge)
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "arrivals"] and "86,400,000" in d["msg"]
    bad = client.post("/api/simulate", json={**SIM, "replicas": 0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "replicas"]


def test_body_limit_declared_and_streamed(client: TestClient) -> None:
    big = json.dumps({"name": "x" * 300_000}).encode()
    r = client.post("/api/plan", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "200,000 bytes" in r.json()["detail"]

    def chunks():
        for _ in range(10):
            yield b" " * 50_000

    r2 = client.post("/api/plan", content=chunks(), headers={"content-type": "application/json"})
    assert r2.status_code == 413


def test_bearer_token() -> None:
    c = TestClient(create_app(token="s3cret"))
    r = c.get("/api/catalog/gpus")
    assert r.status_code == 401 and r.headers["x-fleetplan-version"]
    ok = c.get("/api/catalog/gpus", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert c.get("/").status_code == 200  # the page itself is public; its API calls are not


def test_page_and_assets_name_no_external_url(client: TestClient) -> None:
    from importlib import resources

    static = resources.files("fleetplan.web").joinpath("static")
    page = client.get("/")
    assert page.status_code == 200 and "fleetplan" in page.text
    for name in ("index.html", "app.js", "charts.js", "app.css"):
        text = static.joinpath(name).read_text("utf-8")
        assert "http://" not in text and "https://" not in text, name
        assert client.get(f"/{name}").status_code == 200
    # the vendored library mentions its home page in its licence comment only: nothing it loads
    lib = static.joinpath("vendor/chart.umd.min.js").read_text("utf-8")
    assert "Chart.js v4" in lib
    for pattern in ('src="http', "src='http", 'href="http', "url(http", "import(", "fetch("):
        assert pattern not in lib, pattern


def test_serve_rejects_a_bad_port_and_an_unset_token_variable(cli, monkeypatch) -> None:
    r = cli("serve", "--port", "70000")
    assert r.code == 2 and "--port = 70000" in r.err and "1 to 65535" in r.err
    monkeypatch.delenv("FLEETPLAN_TEST_NO_SUCH_TOKEN", raising=False)
    r2 = cli("serve", "--token-env", "FLEETPLAN_TEST_NO_SUCH_TOKEN")
    assert r2.code == 2 and "FLEETPLAN_TEST_NO_SUCH_TOKEN" in r2.err


def test_bodies_name_no_server_files(client: TestClient) -> None:
    body = client.get("/api/example").json()
    bad = {**body, "input_tokens": {"csv": "/etc/passwd", "column": "x"}}
    r = client.post("/api/plan", json=bad)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "input_tokens", "csv"]
    r2 = client.post("/api/plan", json={**body, "model": "/tmp/config.json"})
    assert r2.status_code == 422 and "config_json" in r2.json()["detail"][0]["msg"]
    sim = {**SIM, "arrivals": {"kind": "trace", "path": "/etc/hosts"}}
    r3 = client.post("/api/simulate", json=sim)
    assert r3.status_code == 422 and r3.json()["detail"][0]["loc"] == ["body", "arrivals", "path"]


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        (
            "/api/fit",
            '{"model": "llama-3.1-8b", "gpu_memory_utilization": NaN}',
            "gpu_memory_utilization",
        ),
        ("/api/perf", '{"model": "llama-3.1-8b", "gpu": "h100", "tp": 1e400}', "tp"),
        (
            "/api/breakeven",
            '{"api": ["gpt-4o-mini"], "gpu": "h100", "input_tokens": 5, '
            '"output_tokens": 5, "usd_per_hour": Infinity}',
            "usd_per_hour",
        ),
        ("/api/fit", '{"model": NaN}', "model"),
    ],
)
def test_non_finite_numbers_are_422_naming_the_field(client, path, raw, field) -> None:
    """Python's json reads NaN and Infinity; the 422 must not try to echo them back (a 500)."""
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", field] and field in d["msg"] and "input" not in d


def test_a_body_that_is_not_json_is_one_line(client: TestClient) -> None:
    r = client.post("/api/fit", content=b'{"model": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body"],
            "msg": "body is not JSON: Expecting value at character 10",
            "type": "json_invalid",
        }
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tp": "2"}, "tp"),
        ({"tp": True}, "tp"),
        ({"context": "8192"}, "context"),
        ({"gpu_memory_utilization": "0.9"}, "gpu_memory_utilization"),
    ],
)
def test_a_string_or_bool_is_not_silently_a_number(client, body, field) -> None:
    r = client.post("/api/fit", json={"model": "llama-3.1-8b", "gpu": "h100", **body})
    assert r.status_code == 422, r.text[:200]
    assert r.json()["detail"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("path", ["/api/fit", "/api/perf"])
def test_a_value_that_looks_like_an_option_stays_a_value(client, path) -> None:
    """`"model": "--help"` printed the command's help as a 200 application/json."""
    r = client.post(path, json={"model": "--help", "gpu": "h100"})
    assert r.status_code == 422, r.text[:200]
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "model"] and "unknown model '--help'" in d["msg"]
    be = {"api": ["--version"], "gpu": "h100", "input_tokens": 5, "output_tokens": 5}
    r2 = client.post("/api/breakeven", json={**be, "model": "llama-3.1-8b"})
    assert r2.status_code == 422 and "unknown api model '--version'" in r2.text


@pytest.mark.parametrize("model", ["/etc", "/etc/hostname", "x.json"])
@pytest.mark.parametrize("path", ["/api/fit", "/api/perf", "/api/plan"])
def test_no_endpoint_reads_a_server_file_as_a_model(client, path, model) -> None:
    """fit and perf read any path as a model config ('/etc/hostname is not valid JSON'), and
    plan refused only names ending in .json (a folder was searched for a config.json)."""
    body = client.get("/api/example").json() if path == "/api/plan" else {"gpu": "h100"}
    r = client.post(path, json={**body, "model": model})
    assert r.status_code == 422, r.text[:200]
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "model"] and "reads no files on the server" in d["msg"]


@pytest.mark.parametrize("path", ["/api/plan", "/api/scenario.yaml", "/api/deploy"])
def test_scenario_bodies_refuse_non_finite_numbers_anywhere(client, path) -> None:
    """A NaN name was planned as the scenario "NaN"; a NaN peak was blamed as the string 'NaN';
    scenario.yaml wrote `.nan` into the file."""
    body = json.dumps(client.get("/api/example").json())
    for old, new, loc in [
        ('"name": "chat assistant, Llama 3.1 8B"', '"name": NaN', ["body", "name"]),
        ('"peak_qps": 50', '"peak_qps": Infinity', ["body", "traffic", "peak_qps"]),
        ('"p95": 2800', '"p95": -1e400', ["body", "input_tokens", "p95"]),
    ]:
        raw = body.replace(old, new)
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (new, r.text[:200])
        d = r.json()["detail"][0]
        assert d["loc"] == loc and "expected a finite number" in d["msg"]


def test_scenario_yaml_refuses_what_plan_would_refuse(client: TestClient) -> None:
    """It wrote any body as a scenario file: a negative peak, a string for a number, a
    misspelt field; the file then failed in `fleetplan plan`."""
    body = client.get("/api/example").json()
    for patch, loc in [
        ({"traffic": {**body["traffic"], "peak_qps": -50}}, ["body", "traffic", "peak_qps"]),
        ({"headroom": "0.7"}, ["body", "headroom"]),
        ({"no_such_field": 1}, ["body", "no_such_field"]),
    ]:
        r = client.post("/api/scenario.yaml", json={**body, **patch})
        assert r.status_code == 422, (patch, r.text[:200])
        assert r.json()["detail"][0]["loc"] == loc
    ok = client.post("/api/scenario.yaml", json=body)
    assert ok.status_code == 200 and "peak_qps: 50" in ok.text


@pytest.mark.parametrize(("field", "value"), [("gpu", "nope"), ("model", "nope"), ("engine", "x")])
def test_simulate_refuses_unknown_names_up_front(client, field, value) -> None:
    """An unknown GPU or model was accepted (202) and the job failed later."""
    r = client.post("/api/simulate", json={**SIM, field: value})
    assert r.status_code == 422, r.text[:200]
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", field] and f"unknown {field} '{value}'" in d["msg"]


def test_a_simulate_error_naming_no_field_is_the_body(client: TestClient) -> None:
    """It came back at loc ["body", "body"]."""
    r = client.post("/api/simulate", json={})
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body"] and "model" in d["msg"]


def test_scenario_yaml_with_a_pasted_config_is_a_file_plan_reads(client, cli, tmp_path) -> None:
    """It wrote `config_json` into the file, a field `fleetplan plan` refuses as unknown."""
    import yaml

    body = {**client.get("/api/example").json(), "config_json": CONFIG}
    r = client.post("/api/scenario.yaml", json=body)
    assert r.status_code == 200, r.text[:200]
    assert r.text.startswith("# model: the config.json pasted as config_json")
    scenario = yaml.safe_load(r.text)
    assert "config_json" not in scenario and scenario["model"] == "config.json"
    (tmp_path / "scenario.yaml").write_text(r.text, encoding="utf-8")
    (tmp_path / "config.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    out = cli("plan", str(tmp_path / "scenario.yaml"), "--json")
    assert out.code == 0, out.err
    web = client.post("/api/plan", json=body).json()["recommended"]
    assert out.json()["recommended"]["usd_per_month"] == web["usd_per_month"]


@pytest.mark.parametrize("path", ["/api/plan", "/api/fit", "/api/simulate", "/api/scenario.yaml"])
@pytest.mark.parametrize(("ctype", "named"), [("text/plain", "'text/plain'"), (None, "no Content")])
def test_a_body_not_sent_as_json_is_415_naming_the_type(client, path, ctype, named) -> None:
    """It was a 422 "Input should be a valid dictionary" quoting the body back."""
    raw = json.dumps({"model": "llama-3.1-8b"}).encode()
    r = client.post(path, content=raw, headers={"content-type": ctype} if ctype else {})
    assert r.status_code == 415, r.text[:200]
    d = r.json()["detail"][0]
    assert d["loc"] == ["header", "content-type"] and named in d["msg"]
    assert "application/json" in d["msg"] and "llama" not in d["msg"]


def test_json_types_and_an_empty_body_pass_the_content_type_check(client: TestClient) -> None:
    raw = json.dumps({"model": "llama-3.1-8b", "gpu": "h100"})
    for ctype in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = client.post("/api/fit", content=raw, headers={"content-type": ctype})
        assert r.status_code == 200, (ctype, r.text[:200])
    # an empty body declares nothing: the built-in example, whatever the header says
    for headers in ({}, {"content-type": "text/plain"}):
        y = client.post("/api/scenario.yaml", headers=headers)
        assert y.status_code == 200 and "model: llama-3.1-8b" in y.text


@pytest.mark.parametrize(
    ("raw", "kind", "said"),
    [
        (b'{"model": "\xff"}', "json_invalid", "byte 0xff at position 11"),
        (b'{"model": ' + b"[" * 5000 + b"]" * 5000 + b"}", "json_too_deep", "nested too deeply"),
    ],
)
@pytest.mark.parametrize("path", ["/api/plan", "/api/fit"])
def test_a_body_that_is_not_utf8_or_too_deep_says_so(client, path, raw, kind, said) -> None:
    """Both were a 400 "There was an error parsing the body"."""
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text[:200]
    [d] = r.json()["detail"]
    assert d["loc"] == ["body"] and d["type"] == kind
    assert said in d["msg"] and "a JSON object in UTF-8" in d["msg"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/api/plan", "POST"),
        ("get", "/api/plan", "POST"),
        ("delete", "/api/perf", "POST"),
        ("post", "/api/version", "GET"),
        ("patch", "/api/simulate/abc", "GET"),
        ("post", "/api/catalog/gpus", "GET"),
    ],
)
def test_a_wrong_method_on_an_api_path_is_405_with_its_methods(client, method, path, allow):
    """The page's static mount at "/" answered them: PUT /api/plan was 405 with Allow "GET,
    HEAD" (the files' methods) and GET /api/plan a 404, as if there were no such endpoint."""
    r = client.request(method.upper(), path)
    assert r.status_code == 405 and r.headers["allow"] == allow, (r.status_code, r.headers)
    assert r.json() == {"detail": "Method Not Allowed"}


def test_an_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json() == {
        "detail": "no API endpoint '/api/nope'; /docs lists them"
    }
    assert client.get("/").status_code == 200  # the page is still served
    # answered before any body check: a text body to a wrong path is its 404, not a 415
    r = client.post("/api/nope", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 404, r.text


def test_a_body_value_past_a_bound_gets_the_fields_whole_range(client: TestClient) -> None:
    """The 422 named only the bound broken ('less than or equal to 64'); the CLI and the files
    say the whole range, and now the API does too, from the route's body schema."""
    r = client.post("/api/perf", json={"model": "llama-3.1-8b", "gpu": "h100", "tp": 100})
    item = r.json()["detail"][0]
    assert r.status_code == 422 and item["loc"] == ["body", "tp"], r.text
    assert item["msg"].endswith("; accepted: an integer from 1 to 64"), item
    # a query parameter keeps pydantic's own words (no schema of its own to read)
    q = client.post("/api/plan?verify=maybe", json={})
    assert q.status_code == 422 and "accepted" not in q.json()["detail"][0]["msg"]


def _nested(levels: int) -> dict:
    v: dict = {"k": 1}
    for _ in range(levels - 1):
        v = {"k": v}
    return v


@pytest.mark.parametrize("path", ["/api/plan", "/api/deploy", "/api/scenario.yaml"])
def test_a_body_nested_too_deep_names_its_field_not_the_file(client, cli, path, tmp_path) -> None:
    """plan and deploy answered "scenario file 'scenario.yaml' is nested too deeply" at loc
    ["body"], naming the file the API writes; a pasted config_json too deep was blamed on
    `model` as "model config 'config.json'"; scenario.yaml wrote the config out regardless.
    The command line still names its file."""
    body = client.get("/api/example").json()
    for patch, field, root in [
        ({"slo": _nested(40)}, "slo", "the body"),
        ({"config_json": {**CONFIG, "x": _nested(40)}}, "config_json", "config_json"),
    ]:
        r = client.post(path, json={**body, **patch})
        assert r.status_code == 422, r.text[:200]
        [d] = r.json()["detail"]
        assert d["loc"][:3] == ["body", field, "k" if field == "slo" else "x"]
        assert d["msg"].startswith(f"{field}: nested deeper than 32 levels ({root} itself is")
        assert "accepted: at most 32 levels" in d["msg"]
        assert "scenario.yaml" not in d["msg"] and "config.json" not in d["msg"]
    # 32 levels, the body's own counted, is the limit: this one is the schema's to refuse
    r = client.post(path, json={**body, "slo": _nested(31)})
    assert r.status_code == 422 and "nested" not in r.json()["detail"][0]["msg"]
    scenario = tmp_path / "deep.yaml"
    scenario.write_text(json.dumps({**body, "slo": _nested(40)}), encoding="utf-8")
    out = cli("plan", str(scenario), "--json")
    assert out.code != 0 and f"scenario file '{scenario}' is nested too deeply" in out.err
