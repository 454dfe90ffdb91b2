"""Deployment files (`plan --emit`): every object validates against its schema (Kubernetes'
own for built-in kinds, the CRDs' for KEDA and the Prometheus Operator), per GPU vendor and
per engine, and the pieces agree with each other (labels, queries, replica bounds)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from fleetplan.catalog import load_catalog
from fleetplan.errors import InputError, UnsupportedError
from fleetplan.plan import make_plan
from fleetplan.render.deploy import build, to_yaml
from fleetplan.render.deploy.engines import ENGINES
from fleetplan.render.output_folder import MARKER, write_folder
from fleetplan.scenario import parse_scenario

CRDS = Path(__file__).parent.parent / "data" / "crds"
CRD_SCHEMAS = {
    "ScaledObject": "keda.sh_scaledobject_v1alpha1.json",
    "ServiceMonitor": "monitoring.coreos.com_servicemonitor_v1.json",
    "PrometheusRule": "monitoring.coreos.com_prometheusrule_v1.json",
}
BUILTIN_KINDS = {"Deployment", "Service", "PodDisruptionBudget", "PersistentVolumeClaim"}
HF = Path(__file__).parent.parent / "data" / "hf"
SCENARIO = {
    "model": "llama-3.1-8b",
    "precisions": ["bf16", "fp8"],
    "traffic": {"avg_qps": 5, "peak_qps": 10},
    "input_tokens": {"mean": 800, "p50": 600, "p95": 2000, "p99": 3000},
    "output_tokens": {"mean": 200, "p50": 180, "p95": 400, "p99": 600},
    "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 60, "min_replicas": 2},
    "constraints": {"gpus": ["h100-sxm"], "tp": [1]},
}


@pytest.fixture(scope="module")
def cat():
    """The packaged catalog; until SGLang's efficiency profile is in it, a stand-in copied
    from vLLM's (the deployment files read only its gpu_memory_utilization)."""
    c = load_catalog()
    if "sglang" in c.engines:
        return c
    engines = {**c.engines, "sglang": replace(c.engines["vllm"], id="sglang", aliases=())}
    names = {**c._names, "engine": {**c._names["engine"], "sglang": "sglang"}}
    return replace(c, engines=engines, _names=names)


@pytest.fixture(scope="module")
def plan(cat):
    return make_plan(parse_scenario(SCENARIO), Path("."), cat)


# the plan is fp8: engines that take FP8 weights only from a quantized checkpoint serve one
EXPORTED = {"serve_model": "nvidia/Llama-3.1-8B-Instruct-FP8"}


def _variant(plan, gpu: str = "h100-sxm", engine: str = "vllm", **scenario):
    if engine in ("tensorrt-llm", "lmdeploy") and plan.recommended.precision == "fp8":
        scenario = {**EXPORTED, **scenario}
    c = replace(plan.recommended, gpu=gpu, engine=engine)
    return replace(plan, recommended=c, scenario=plan.scenario.model_copy(update=scenario))


def _objects(files: dict[str, str]) -> list[dict]:
    return [yaml.safe_load(text) for name, text in files.items() if name.startswith("k8s/")]


def _validate(obj: dict) -> None:
    if obj["kind"] in BUILTIN_KINDS:
        kubernetes_validate.validate(obj, "1.30.0", strict=True)
    else:
        schema = json.loads((CRDS / CRD_SCHEMAS[obj["kind"]]).read_text())
        # no check_schema: one CRD pattern uses Go's (?i) syntax, which Python's re lacks
        jsonschema.Draft7Validator(schema).validate(obj)
    if obj["kind"] == "ScaledObject":  # the CRD's CEL rule
        assert obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]


VARIANTS = [
    ("h100-sxm", "vllm"),
    ("mi300x", "vllm"),
    ("h100-sxm", "tgi"),
    ("mi300x", "tgi"),
    ("h100-sxm", "sglang"),
    ("mi300x", "sglang"),
    ("h100-sxm", "tensorrt-llm"),
    ("l40s", "lmdeploy"),
]


@pytest.mark.parametrize(("gpu", "engine"), VARIANTS)
def test_every_emitted_object_validates(plan, cat, gpu, engine):
    a = build(_variant(plan, gpu, engine), cat)
    objs = _objects(a.files)
    assert {"Deployment", "Service", "PodDisruptionBudget", "PersistentVolumeClaim"} <= {
        o["kind"] for o in objs
    }
    for obj in objs:
        _validate(obj)
    json.loads(a.files["grafana-dashboard.json"])
    for name, text in a.files.items():
        assert not re.search(r"[&*]id\d+", text), f"YAML anchor or alias in {name}"


def test_crd_schemas_reject_what_the_crd_rejects(plan, cat):
    """The kept schemas are not vacuous: a wrong field fails as the cluster would fail it."""
    objs = {o["kind"]: o for o in _objects(build(plan, cat).files)}
    bad_trigger = json.loads(json.dumps(objs["ScaledObject"]))
    bad_trigger["spec"]["triggers"][0]["metadata"]["threshold"] = 12  # must be a string
    bad_monitor = json.loads(json.dumps(objs["ServiceMonitor"]))
    bad_monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    bad_rule = json.loads(json.dumps(objs["PrometheusRule"]))
    bad_rule["spec"]["groups"][0]["rules"][0]["severity"] = "x"  # unknown field
    for obj in (bad_trigger, bad_monitor, bad_rule):
        with pytest.raises(jsonschema.ValidationError):
            _validate(obj)


def test_mi300x_plan_requests_amd_gpus_and_rocm(tmp_path):
    from fleetplan.cli import main

    scenario = tmp_path / "mi300x.yaml"
    data = {**SCENARIO, "constraints": {"gpus": ["mi300x"], "tp": [1]}}
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "deploy"
    assert main(["plan", str(scenario), "--json", "--emit", str(out)]) == 0
    dep = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    res = pod["containers"][0]["resources"]
    assert res["limits"] == {"amd.com/gpu": 1}
    assert "nvidia.com/gpu" not in res["requests"]
    assert pod["containers"][0]["image"].startswith("rocm/vllm:")
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "amd.com/gpu.device-id"
    (svc,) = yaml.safe_load((out / "docker-compose.yaml").read_text())["services"].values()
    assert svc["devices"] == ["/dev/kfd", "/dev/dri"]
    assert "nvidia" not in (out / "docker-compose.yaml").read_text()
    rules = (out / "k8s" / "prometheusrule.yaml").read_text()
    assert "DCGM_" not in rules and "amd_gpu_junction_temperature" in rules


def test_tgi_plan_emits_tgi_not_vllm(tmp_path):
    from fleetplan.cli import main

    scenario = tmp_path / "tgi.yaml"
    scenario.write_text(yaml.safe_dump({**SCENARIO, "engines": ["tgi"]}))
    out = tmp_path / "deploy"
    assert main(["plan", str(scenario), "--json", "--emit", str(out)]) == 0
    assert (out / "serve-command.txt").read_text().startswith("text-generation-launcher ")
    dep = (out / "k8s" / "deployment.yaml").read_text()
    assert "text-generation-inference:" in dep and "vllm" not in dep
    assert "tgi_queue_size" in (out / "k8s" / "scaledobject.yaml").read_text()


def test_a_flags_only_plan_names_its_exported_checkpoint_with_serve_model(tmp_path, cli):
    """`plan --model ... --emit` of an AWQ recommendation asked for serve_model "in the
    scenario", which a plan from options alone does not have: `--serve-model` sets it."""
    flags = ["plan", "--model", "llama-3.1-8b", "--qps", "2", "--input-tokens", "500",
             "--output-tokens", "200", "--precision", "awq", "--gpu", "l40s"]  # fmt: skip
    r = cli(*flags, "--json", "--emit", str(tmp_path / "a"))
    assert r.code == 2 and "`plan --serve-model`" in r.err
    assert "at precision 'awq', which needs a checkpoint exported" in r.err, r.err
    r = cli(*flags, "--json", "--emit", str(tmp_path / "b"), "--serve-model", "my-org/l8b-AWQ")
    assert r.code == 0, r.err
    assert "my-org/l8b-AWQ" in (tmp_path / "b" / "serve-command.txt").read_text()
    r = cli(*flags, "--json", "--serve-model", "./weights")
    assert r.code == 2 and "serve_model" in r.err and "not a file path" in r.err, r.err


def test_nvidia_plan_gets_cuda_image_gpu_label_and_compose_reservation(plan, cat):
    a = build(plan, cat)
    dep = yaml.safe_load(a.files["k8s/deployment.yaml"])
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert pod["containers"][0]["image"].startswith("vllm/vllm-openai:")
    expr = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"][0]
    assert expr["key"] == "nvidia.com/gpu.product" and expr["values"] == ["NVIDIA-H100-80GB-HBM3"]
    (svc,) = yaml.safe_load(a.files["docker-compose.yaml"])["services"].values()
    dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and dev["count"] == 1


@pytest.mark.parametrize(
    ("engine", "command", "flag"),
    [
        ("vllm", ["vllm", "serve"], "--tensor-parallel-size"),
        ("tgi", ["text-generation-launcher"], "--num-shard"),
        ("sglang", ["python3", "-m", "sglang.launch_server"], "--tp"),
        ("tensorrt-llm", ["trtllm-serve"], "--tp_size"),
    ],
)
def test_the_plans_engine_is_what_runs(plan, cat, engine, command, flag):
    a = build(_variant(plan, engine=engine), cat)
    container = yaml.safe_load(a.files["k8s/deployment.yaml"])["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["command"] == command and flag in container["args"]
    assert container["image"] == ENGINES[engine].images["nvidia"]
    assert a.files["serve-command.txt"].startswith(" ".join(command) + " ")


def test_unknown_engine_and_missing_image_are_errors_not_vllm(plan, cat):
    with pytest.raises(UnsupportedError, match="no deployment template"):
        build(_variant(plan, engine="mystery-engine"), cat)
    with pytest.raises(UnsupportedError, match="no image for amd"):
        build(_variant(plan, gpu="mi300x", engine="tensorrt-llm"), cat)


def test_chat_service_serves_the_instruct_model(plan, cat):
    args = build(plan, cat).files["serve-command.txt"].split()
    assert args[2] == "meta-llama/Llama-3.1-8B-Instruct"  # catalog serve_model, not the base
    own = build(_variant(plan, serve_model="my-org/llama-3.1-8b-support"), cat)
    assert own.files["serve-command.txt"].split()[2] == "my-org/llama-3.1-8b-support"


def test_config_json_model_needs_a_hugging_face_id(plan, cat):
    from fleetplan.catalog.hf_config import model_from_config

    from_file = replace(plan, model=model_from_config(HF / "llama-3.1-8b" / "config.json"))
    with pytest.raises(InputError, match=r"^serve_model: .*not a file path"):
        build(from_file, cat)
    named = build(_variant(from_file, serve_model="meta-llama/Llama-3.1-8B-Instruct"), cat)
    assert "file:" not in named.files["serve-command.txt"]
    with pytest.raises(InputError, match="serve_model"):
        parse_scenario({**SCENARIO, "serve_model": "./models/llama/config.json"})


def test_llama_cpp_needs_a_gguf_repository(plan, cat):
    with pytest.raises(InputError, match=r"^serve_model: llama\.cpp loads GGUF"):
        build(_variant(plan, engine="llama.cpp"), cat)
    gguf = build(_variant(plan, engine="llama.cpp", serve_model="my-org/llama-8b-GGUF"), cat)
    assert gguf.files["serve-command.txt"].startswith("/app/llama-server -hf my-org/llama-8b-GGUF")


def test_prequantized_precision_needs_its_checkpoint(plan, cat):
    awq = replace(plan, recommended=replace(plan.recommended, precision="awq"))
    with pytest.raises(
        InputError, match=r"^serve_model: .* at precision 'awq', which needs a checkpoint exported"
    ):
        build(awq, cat)


def test_a_checkpoint_in_its_own_format_serves_as_published(cat):
    """gpt-oss ships MXFP4 weights: a plan at mxfp4 serves the catalog's checkpoint (no
    exported one to name), and its pods load the MXFP4 bytes, not a 16-bit copy's."""
    from fleetplan.perf.memory import weights
    from fleetplan.render.deploy.target import make_target

    data = {**SCENARIO, "model": "gpt-oss-120b", "precisions": ["auto"]}
    p = make_plan(parse_scenario(data), Path("."), cat)
    assert p.recommended.precision == "mxfp4"
    t = make_target(p, cat)
    assert t.serve.model == "openai/gpt-oss-120b"
    m = cat.model("gpt-oss-120b")
    assert t.weights_gb == pytest.approx(weights(m, cat.precision("mxfp4")).total_bytes / 1e9)
    assert t.weights_gb < 0.4 * weights(m, cat.precision("bf16")).total_bytes / 1e9
    # a precision the checkpoint does not ship in still needs its export named
    awq = replace(p, recommended=replace(p.recommended, precision="awq"))
    with pytest.raises(
        InputError, match=r"^serve_model: .* at precision 'awq', which needs a checkpoint exported"
    ):
        build(awq, cat)


def test_pieces_agree_labels_queries_probes_and_pdb(plan, cat):
    a = build(plan, cat)
    o = {x["kind"]: x for x in _objects(a.files)}
    name = o["Service"]["metadata"]["name"]
    # ServiceMonitor selects the Service and scrapes its named port
    assert o["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= (
        o["Service"]["metadata"]["labels"].items()
    )
    assert o["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "http"
    assert o["Service"]["spec"]["ports"][0]["name"] == "http"
    # the KEDA query filters on the service label the ServiceMonitor's scrape adds
    query = o["ScaledObject"]["spec"]["triggers"][0]["metadata"]["query"]
    assert query == f'sum(vllm:num_requests_waiting{{service="{name}"}})'
    # the model-cache claim the Deployment mounts is emitted
    pod = o["Deployment"]["spec"]["template"]["spec"]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == o["PersistentVolumeClaim"]["metadata"]["name"]
    # a startupProbe sized from the load estimate replaces a long readiness delay
    container = pod["containers"][0]
    start = container["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= a.target.load_time_s
    assert "initialDelaySeconds" not in container["readinessProbe"]
    # the PDB never blocks a drain at KEDA's minimum
    pdb = o["PodDisruptionBudget"]["spec"]
    keda_min = o["ScaledObject"]["spec"]["minReplicaCount"]
    assert pdb.get("maxUnavailable", 0) >= 1 or pdb["minAvailable"] < keda_min


def test_alerts_cover_slo_saturation_and_gpu_health(plan, cat):
    rules = yaml.safe_load(build(plan, cat).files["k8s/prometheusrule.yaml"])
    by_name = {r["alert"]: r["expr"] for r in rules["spec"]["groups"][0]["rules"]}
    assert by_name["LLMTimeToFirstTokenP95OverSLO"].endswith("> 1.5")
    assert by_name["LLMTimePerOutputTokenP95OverSLO"].endswith("> 0.06")
    assert "vllm:kv_cache_usage_perc" in by_name["LLMKVCacheNearlyFull"]
    assert "vllm:num_requests_waiting" in by_name["LLMQueueBacklog"]
    assert "DCGM_FI_DEV_GPU_TEMP" in by_name["GPUTemperatureHigh"]
    assert "DCGM_FI_DEV_FB_USED" in by_name["GPUMemoryNearlyFull"]
    assert "DCGM_FI_DEV_XID_ERRORS" in by_name["GPUXidError"]


def _promql(a) -> list[str]:
    o = {x["kind"]: x for x in _objects(a.files)}
    exprs = [r["expr"] for r in o["PrometheusRule"]["spec"]["groups"][0]["rules"]]
    if "ScaledObject" in o:
        exprs.append(o["ScaledObject"]["spec"]["triggers"][0]["metadata"]["query"])
    dash = json.loads(a.files["grafana-dashboard.json"])
    return exprs + [t["expr"] for p in dash["panels"] for t in p["targets"]]


@pytest.mark.parametrize(("gpu", "engine"), VARIANTS)
def test_every_query_parses_and_names_cited_series(plan, cat, gpu, engine):
    """Alert, autoscaling and dashboard queries are valid PromQL over the series the engine
    table and the GPU exporters' tables name, nothing else."""
    # in the test extra; a working venv made before it was added lacks it (CI installs it)
    promql_parser = pytest.importorskip("promql_parser")
    from fleetplan.render.deploy.monitoring import _GPU_SERIES

    a = build(_variant(plan, gpu, engine), cat)
    m = a.target.engine.metrics
    known = {m.queue, m.ttft, m.tpot, m.kv_usage, "up", *_GPU_SERIES[a.target.vendor].values()}
    known |= {f"{s}_bucket" for s in known}
    for expr in _promql(a):
        promql_parser.parse(expr)  # raises ValueError on a syntax error
        for series in re.findall(r"([A-Za-z_:][\w:]*)\{", expr):
            assert series in known, (series, expr)


def test_yaml_never_aliases_repeated_objects():
    shared = {"a": 1}
    assert "&" not in to_yaml({"x": shared, "y": shared})


def test_readme_lists_every_file_with_its_basis(plan, cat):
    a = build(plan, cat)
    readme = a.files["README.md"]
    for name in a.files:
        assert f"| `{name}` |" in readme
    assert "shared/" not in readme and "seed" not in readme.lower()


def test_emit_writes_all_or_nothing(tmp_path):
    from fleetplan.cli import main

    assert main(["plan", "--json", "--emit", ""]) == 2
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        write_folder(a_file, {"a.txt": "x"}, "--emit")
    a_file.unlink()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    assert main(["plan", "--json", "--emit", str(busy)]) == 2
    assert sorted(p.name for p in busy.iterdir()) == ["mine.txt"]
    # a failure while writing leaves neither the folder nor a temporary one behind
    with pytest.raises(ValueError, match="leaves the folder"):
        write_folder(tmp_path / "new", {"a.txt": "x", "../escape.txt": "y"}, "--emit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    # a folder written before is replaced whole
    first = write_folder(tmp_path / "out", {"a.txt": "1", "b.txt": "2"}, "--emit")
    assert (tmp_path / "out" / MARKER).is_file() and len(first) == 2
    write_folder(tmp_path / "out", {"a.txt": "3"}, "--emit")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([MARKER, "a.txt"])
