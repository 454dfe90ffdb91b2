/* fleetplan planning page: a scenario form, live re-planning, charts, shareable URLs. */
"use strict";
const $ = (s) => document.querySelector(s);
const C = window.FleetplanCharts;
const state = { base: null, plan: null, seq: 0, timer: null };

async function api(path, body, opts) {
  const res = await fetch(path, Object.assign({
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }, opts || {}));
  const v = res.headers.get("X-Fleetplan-Version");
  if (v) $("#version").textContent = "fleetplan " + v;
  return res;
}

/* ---------- the form <-> a scenario object ---------- */
function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  keys.slice(0, -1).forEach((k) => { if (typeof o[k] !== "object" || o[k] === null) o[k] = {}; o = o[k]; });
  o[keys[keys.length - 1]] = value;
}
function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj);
}
function checked(box) { return [...box.querySelectorAll("input:checked")].map((i) => i.value); }

function scenarioFromForm() {
  const s = JSON.parse(JSON.stringify(state.base || {}));
  for (const el of document.querySelectorAll("#scenario [name]")) {
    const name = el.name, raw = el.value.trim();
    if (name === "config_json") {
      if (raw) { try { s.config_json = JSON.parse(raw); } catch (e) { s.config_json = raw; } }
      continue;
    }
    if (name === "traffic.hourly_qps") {
      if (raw) setPath(s, name, raw.split(/[\s,]+/).filter(Boolean).map(Number));
      else if (s.traffic) delete s.traffic.hourly_qps;
      continue;
    }
    if (el.type === "number") {
      if (raw === "") { const parts = name.split("."); const parent = getPath(s, parts.slice(0, -1).join(".")); if (parent) delete parent[parts[parts.length - 1]]; }
      else setPath(s, name, Number(raw));
    } else if (raw !== "") setPath(s, name, raw);
  }
  // percentiles given without p50 keep the base's shape consistent
  for (const side of ["input_tokens", "output_tokens"]) {
    if (s[side] && state.base && state.base[side] && s[side].p50 !== undefined && s[side].mean !== state.base[side].mean) delete s[side].p50;
  }
  s.constraints = Object.assign({}, s.constraints);
  for (const [key, box] of [["gpus", "#f-gpus"], ["providers", "#f-providers"], ["pricing", "#f-pricing"]]) {
    const all = $(box).querySelectorAll("input").length, sel = checked($(box));
    if (sel.length && sel.length < all) s.constraints[key] = sel; else delete s.constraints[key];
  }
  if (!Object.keys(s.constraints).length) delete s.constraints;
  return s;
}

function formFromScenario(s) {
  for (const el of document.querySelectorAll("#scenario [name]")) {
    if (el.name === "config_json") { el.value = s.config_json ? JSON.stringify(s.config_json, null, 1) : ""; continue; }
    const v = getPath(s, el.name);
    if (el.tagName === "SELECT" && v !== undefined && ![...el.options].some((o) => o.value === String(v))) el.add(new Option(String(v), String(v)));
    el.value = v === undefined || v === null ? "" : Array.isArray(v) ? v.join(",") : v;
  }
  const c = s.constraints || {};
  for (const [key, box] of [["gpus", "#f-gpus"], ["providers", "#f-providers"], ["pricing", "#f-pricing"]]) {
    const allowed = c[key];
    $(box).querySelectorAll("input").forEach((i) => { i.checked = !allowed || allowed.includes(i.value); });
  }
  syncSliders();
}

function syncSliders() {
  const pairs = [["#s-peak", "#f-peak"], ["#s-growth", "#f-growth"], ["#s-ttft", "#f-ttft"], ["#s-tpot", "#f-tpot"]];
  for (const [s, f] of pairs) {
    const slider = $(s), v = Number($(f).value || 0);
    if (v > Number(slider.max)) slider.max = String(v * 2);
    slider.value = String(v);
  }
  updateCounts();
}
function updateCounts() {
  for (const [box, n] of [["#f-gpus", "#n-gpus"], ["#f-providers", "#n-providers"], ["#f-pricing", "#n-pricing"]]) {
    const all = $(box).querySelectorAll("input").length, sel = checked($(box)).length;
    $(n).textContent = sel === all ? "(all)" : `(${sel} of ${all})`;
  }
}

/* ---------- share links: the scenario in the URL ---------- */
function encodeScenario(s) {
  const bytes = new TextEncoder().encode(JSON.stringify(s));
  let bin = ""; bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function decodeScenario(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}
function shareUrl(s) { return `${location.origin}${location.pathname}#s=${encodeScenario(s)}`; }

/* ---------- errors ---------- */
function clearErrors() {
  document.querySelectorAll(".err").forEach((e) => { e.textContent = ""; });
  document.querySelectorAll("input.bad").forEach((e) => e.classList.remove("bad"));
}
function showErrors(detail) {
  const items = Array.isArray(detail) ? detail : [{ loc: ["body"], msg: String(detail) }];
  for (const d of items) {
    const loc = (d.loc || []).filter((k) => k !== "body").join(".");
    let target = null;
    for (let path = loc; path; path = path.split(".").slice(0, -1).join(".")) {
      target = document.querySelector(`.err[data-field="${path}"]`);
      if (target) { const input = document.querySelector(`[name="${path}"]`); if (input) input.classList.add("bad"); break; }
    }
    target = target || $("#err-body");
    target.textContent = (target.textContent ? target.textContent + " " : "") + d.msg;
  }
  $("#status").textContent = "Fix the highlighted field.";
}

/* ---------- planning ---------- */
async function runPlan() {
  const seq = ++state.seq;
  const s = scenarioFromForm();
  $("#status").textContent = "Planning…";
  const t0 = performance.now();
  const res = await api("/api/plan", s);
  if (seq !== state.seq) return; // a newer request is on its way
  clearErrors();
  const body = await res.json();
  if (!res.ok) { showErrors(body.detail); return; }
  history.replaceState(null, "", `#s=${encodeScenario(s)}`);
  state.plan = body;
  render(body, performance.now() - t0);
}
function schedulePlan() { clearTimeout(state.timer); state.timer = setTimeout(runPlan, 250); }

function fmt(v, d) { return v === null || v === undefined ? "n/a" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d === undefined ? 1 : d }); }
function esc(t) { const d = document.createElement("div"); d.textContent = String(t); return d.innerHTML; }
// how far the performance model was from published measurements of setups like this one
// (catalog.error_bands, out of sample): the recommendation's latencies and capacity stand on it
function errorText(e) {
  if (!e) return "Model error: not known (a calibration or catalog file changes this engine's profile).";
  const names = { output_tok_per_s: "output tok/s", ttft_ms: "TTFT", tpot_ms: "TPOT" };
  const parts = Object.entries(e.metrics).map(([k, m]) =>
    `${names[k] || k} ${fmt(m.median_abs_pct, 1)} % (p90 ${fmt(m.p90_abs_pct, 1)} %)`);
  return `Model error against published measurements of setups like this, each predicted without its source's data (median, p90): ${parts.join(", ")}.`;
}

function offerText(o) {
  if (!o) return "";
  const unit = o.usd_per_instance_hour !== undefined ? `$${fmt(o.usd_per_instance_hour, 2)}/instance-h` : `$${fmt(o.usd_per_gpu_hour, 2)}/GPU-h`;
  return `${o.provider} ${o.pricing}${o.instance_type ? " " + o.instance_type : ""} ${unit}`;
}

function render(p, ms) {
  const r = p.recommended;
  const card = $("#recommendation");
  if (!r) {
    card.innerHTML = `<h2>No deployment meets every SLO and constraint</h2><p>${esc((p.notes || []).join(" "))}</p>`;
  } else {
    const instances = r.instances !== undefined ? `<div class="kpi"><b id="rec-instances">${fmt(r.instances, 0)}</b><span>instances</span></div>` : "";
    card.innerHTML = `<h2>Recommended: <span id="rec-gpu">${esc(r.gpu)}</span>${r.tp > 1 ? " ×" + r.tp : ""} · ${esc(r.precision)} · ${esc(r.engine)}</h2>
      <div class="kpis">
        <div class="kpi"><b id="rec-replicas">${fmt(r.replicas, 0)}</b><span>replicas</span></div>
        <div class="kpi"><b>${fmt(r.gpus_total, 0)}</b><span>GPUs</span></div>${instances}
        <div class="kpi"><b>$${fmt(r.usd_per_month, 0)}</b><span>per month</span></div>
        <div class="kpi"><b>$${fmt(r.usd_per_million_tokens, 3)}</b><span>per 1M tokens</span></div>
        <div class="kpi"><b>${fmt(r.ttft_p95_ms)} ms</b><span>TTFT p95</span></div>
        <div class="kpi"><b>${fmt(r.tpot_p95_ms)} ms</b><span>TPOT p95</span></div>
        <div class="kpi"><b>${fmt(100 * r.utilization_at_peak, 0)}%</b><span>busy at peak</span></div>
      </div>
      <p>${esc(offerText(r.offer))} · max batch ${fmt(r.max_batch, 0)}</p>
      <p class="caveat" id="rec-error">${esc(errorText(p.expected_error))}</p>
      ${(r.notes || []).map((n) => `<p class="caveat">${esc(n)}</p>`).join("")}`;
  }
  $("#status").textContent = `${fmt(p.candidates_evaluated, 0)} candidates evaluated; answered in ${fmt(ms, 0)} ms.`;
  const rows = (p.alternatives || []).map((c) => `<tr><td class="l">${esc(C.label(c))}</td><td>${fmt(c.replicas, 0)}</td><td>${fmt(c.gpus_total, 0)}</td><td class="l">${esc(offerText(c.offer))}</td><td>$${fmt(c.usd_per_month, 0)}</td><td>$${fmt(c.usd_per_million_tokens, 3)}</td><td>${fmt(c.ttft_p95_ms)}</td><td>${fmt(c.tpot_p95_ms)}</td></tr>`);
  $("#alternatives").innerHTML = rows.length ? `<table><thead><tr><th class="l">setup</th><th>replicas</th><th>GPUs</th><th class="l">offer</th><th>$/month</th><th>$/1M tok</th><th>TTFT p95 ms</th><th>TPOT p95 ms</th></tr></thead><tbody>${rows.join("")}</tbody></table>` : "<p>None.</p>";
  const prov = (p.by_provider || []).map((c) => `<tr><td class="l">${esc(c.offer.provider)}</td><td class="l">${esc(c.offer.pricing)}</td><td class="l">${esc(c.offer.tier || "")}</td><td class="l">${esc(C.label(c))}</td><td>${fmt(c.replicas, 0)}</td><td>${fmt(c.instances, 0)} × ${esc(c.offer.instance_type || "")}</td><td>$${fmt(c.usd_per_month, 0)}</td><td class="l">${esc((c.offer.regions || []).join(", ") || "not stated")}</td><td class="l">${esc(c.offer.as_of || "")}</td></tr>`);
  $("#by-provider").innerHTML = prov.length ? `<table><thead><tr><th class="l">provider</th><th class="l">pricing</th><th class="l">tier</th><th class="l">setup</th><th>replicas</th><th>instances</th><th>$/month</th><th class="l">regions</th><th class="l">as of</th></tr></thead><tbody>${prov.join("")}</tbody></table>` : "<p>None.</p>";
  const rej = p.rejected || [];
  $("#n-rejected").textContent = String(rej.length);
  $("#whynot").innerHTML = `<table><thead><tr><th class="l">GPU</th><th class="l">precision</th><th>tp</th><th class="l">engine</th><th class="l">why not</th></tr></thead><tbody>${rej.map((x) => `<tr><td class="l">${esc(x.gpu)}</td><td class="l">${esc(x.precision)}</td><td>${esc(x.tp || "*")}</td><td class="l">${esc(x.engine)}</td><td class="reason">${esc(x.reason)}</td></tr>`).join("")}</tbody></table>`;
  $("#notes").innerHTML = [...(p.notes || []), ...(p.basis ? [typeof p.basis === "string" ? p.basis : JSON.stringify(p.basis)] : [])].map((n) => `<li>${esc(n)}</li>`).join("");
  C.pareto($("#chart-pareto"), p);
  C.volume($("#chart-volume"), p);
  C.budget($("#chart-budget"), p);
  loadBatchChart(p);
}

async function loadBatchChart(p) {
  const r = p.recommended;
  if (!r) return;
  const w = p.workload;
  const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256].filter((b) => b < r.max_batch);
  const body = { model: p.model, gpu: r.gpu, precision: r.precision, tp: r.tp, engine: r.engine,
    input_tokens: Math.max(1, Math.round(w.input_tokens.mean)), output_tokens: Math.max(1, Math.round(w.output_tokens.mean)),
    batch: [...sizes, r.max_batch, "max"].join(",") };
  const res = await api("/api/perf", body);
  if (res.ok) C.batch($("#chart-batch"), await res.json(), p);
}

async function simulateAtPeak() {
  const p = state.plan, r = p && p.recommended;
  if (!r) return;
  const w = p.workload;
  const body = {
    model: p.model, gpu: r.gpu, precision: r.precision, tp: r.tp, engine: r.engine,
    replicas: r.replicas, max_num_seqs: r.max_batch,
    arrivals: { kind: "poisson", rate_per_s: w.peak_qps, duration_s: Math.min(300, Math.max(30, 3000 / Math.max(w.peak_qps, 1))) },
    lengths: { input: { mean: w.input_tokens.mean, dist: "lognormal", sigma: 0.8 }, output: { mean: w.output_tokens.mean, dist: "lognormal", sigma: 0.8 } },
    seed: 1,
  };
  const bar = $("#sim-progress");
  bar.hidden = false; bar.value = 0;
  $("#status").textContent = "Simulating the recommendation at peak…";
  const res = await api("/api/simulate", body);
  let job = await res.json();
  if (!res.ok) { showErrors(job.detail); bar.hidden = true; return; }
  while (job.state === "queued" || job.state === "running") {
    await new Promise((ok) => setTimeout(ok, 300));
    job = await (await api(`/api/simulate/${job.job_id}`)).json();
    bar.value = job.progress;
  }
  bar.hidden = true;
  if (job.state !== "done") { $("#status").textContent = `Simulation failed: ${job.error}`; return; }
  const s = job.result;
  C.timeline($("#chart-timeline"), s, w.slo);
  $("#status").textContent = `Simulated ${fmt(s.requests, 0)} requests at ${fmt(w.peak_qps)} req/s: TTFT p95 ${fmt(s.ttft_ms.p95)} ms, TPOT p95 ${fmt(s.tpot_ms && s.tpot_ms.p95)} ms.`;
}

/* ---------- downloads ---------- */
async function download(path, name, query) {
  const res = await api(path + (query || ""), scenarioFromForm());
  if (!res.ok) { const b = await res.json(); showErrors(b.detail); return; }
  const blob = await res.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name; a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/* ---------- start ---------- */
function checkboxes(box, values, onChange) {
  $(box).innerHTML = values.map((v) => `<label><input type="checkbox" value="${esc(v)}" checked> ${esc(v)}</label>`).join("");
  $(box).addEventListener("change", onChange);
}

async function init() {
  const [models, gpus, offers, example] = await Promise.all(
    ["/api/catalog/models", "/api/catalog/gpus", "/api/catalog/offers", "/api/example"].map((u) => api(u).then((r) => r.json())));
  $("#f-model").innerHTML = models.map((m) => `<option value="${esc(m.id)}">${esc(m.id)}</option>`).join("");
  checkboxes("#f-gpus", gpus.map((g) => g.id), () => { updateCounts(); schedulePlan(); });
  const providers = [...new Set(offers.map((o) => o.provider))].sort();
  const pricing = [...new Set(offers.map((o) => o.pricing))].sort();
  checkboxes("#f-providers", providers, () => { updateCounts(); schedulePlan(); });
  checkboxes("#f-pricing", pricing, () => { updateCounts(); schedulePlan(); });
  state.base = example;
  let scenario = example;
  const m = location.hash.match(/^#s=(.+)$/);
  if (m) { try { scenario = decodeScenario(m[1]); state.base = scenario; } catch (e) { $("#err-body").textContent = "The shared link could not be read; showing the built-in example."; } }
  formFromScenario(scenario);
  const pairs = [["#s-peak", "#f-peak"], ["#s-growth", "#f-growth"], ["#s-ttft", "#f-ttft"], ["#s-tpot", "#f-tpot"]];
  for (const [s, f] of pairs) {
    $(s).addEventListener("input", () => { $(f).value = $(s).value; schedulePlan(); });
    $(f).addEventListener("change", () => { syncSliders(); });
  }
  $("#scenario").addEventListener("submit", (e) => { e.preventDefault(); runPlan(); });
  $("#b-verify").addEventListener("click", simulateAtPeak);
  $("#d-yaml").addEventListener("click", (e) => { e.preventDefault(); download("/api/scenario.yaml", "scenario.yaml"); });
  $("#d-md").addEventListener("click", (e) => { e.preventDefault(); download("/api/plan", "report.md", "?format=md"); });
  $("#d-html").addEventListener("click", (e) => { e.preventDefault(); download("/api/plan", "report.html", "?format=html"); });
  $("#d-deploy").addEventListener("click", (e) => { e.preventDefault(); download("/api/deploy", "fleetplan-deploy.zip"); });
  $("#d-share").addEventListener("click", async (e) => {
    e.preventDefault();
    const url = shareUrl(scenarioFromForm());
    history.replaceState(null, "", url);
    try { await navigator.clipboard.writeText(url); $("#status").textContent = "Share link copied."; } catch (err) { $("#status").textContent = url; }
  });
  await runPlan();
}
init();
