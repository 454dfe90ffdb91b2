/* fleetplan charts (Chart.js, vendored): shared by the web app and `plan --format html`.
   Every function takes a canvas and the JSON that `fleetplan plan --json` prints. */
(function (global) {
  "use strict";
  const charts = new Map();
  const HOURS_PER_MONTH = 730;

  function money(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return "$" + (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e3) return "$" + (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    return "$" + v.toFixed(a >= 100 ? 0 : 2);
  }
  function count(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    return String(Math.round(v));
  }
  function label(c) {
    return `${c.gpu}${c.tp > 1 ? " x" + c.tp : ""} ${c.precision} ${c.engine}`;
  }
  function draw(canvas, config) {
    const old = charts.get(canvas);
    if (old) old.destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    const chart = new global.Chart(canvas, config);
    charts.set(canvas, chart);
    canvas.dataset.rendered = "1";
    return chart;
  }
  function axis(title, fmt, extra) {
    return Object.assign({ title: { display: true, text: title }, ticks: fmt ? { callback: fmt } : {} }, extra || {});
  }

  function pareto(canvas, plan) {
    const pts = (plan.pareto || []).map((c) => ({ x: c.usd_per_month, y: c.tpot_p95_ms, c }));
    const alts = (plan.alternatives || []).map((c) => ({ x: c.usd_per_month, y: c.tpot_p95_ms, c }));
    const rec = plan.recommended ? [{ x: plan.recommended.usd_per_month, y: plan.recommended.tpot_p95_ms, c: plan.recommended }] : [];
    const slo = (plan.workload && plan.workload.slo) || {};
    const xs = pts.concat(alts, rec).map((p) => p.x);
    const datasets = [
      { label: "Pareto frontier", data: pts.sort((a, b) => a.x - b.x), showLine: true, borderColor: "#2456c7", backgroundColor: "#2456c7" },
      { label: "alternatives", data: alts, backgroundColor: "#8a94a6", borderColor: "#8a94a6" },
      { label: "recommended", data: rec, pointStyle: "star", radius: 10, borderColor: "#b3261e", backgroundColor: "#b3261e" },
    ];
    if (slo.tpot_p95_ms && xs.length) {
      datasets.push({ label: `TPOT SLO ${slo.tpot_p95_ms} ms`, data: [{ x: Math.min(...xs) * 0.9, y: slo.tpot_p95_ms }, { x: Math.max(...xs) * 1.1, y: slo.tpot_p95_ms }],
        showLine: true, pointRadius: 0, borderDash: [6, 4], borderColor: "#999" });
    }
    return draw(canvas, {
      type: "scatter",
      data: { datasets },
      options: {
        scales: { x: axis("$/month", money), y: axis("TPOT p95 (ms)") },
        plugins: { tooltip: { callbacks: { label: (ctx) => {
          const c = ctx.raw.c; if (!c) return ctx.dataset.label;
          return `${label(c)}: ${c.replicas} replicas, ${money(c.usd_per_month)}/month, TTFT p95 ${c.ttft_p95_ms} ms, TPOT p95 ${c.tpot_p95_ms} ms`;
        } } } },
      },
    });
  }

  /* Cost against monthly volume, from the plan's breakeven curves (economics.breakeven):
     self-hosted cost in whole replicas against each API's price, with the breakeven points
     and "you are here" at the scenario's average traffic. */
  function volume(canvas, plan) {
    const w = plan.workload || {};
    const apis = (plan.apis || []).filter((a) => a.curve && a.curve.requests_per_month.length);
    if (!apis.length) return null;
    const here = (w.avg_qps || 0) * 3600 * HOURS_PER_MONTH;
    const c0 = apis[0].curve;
    const pts = (c, ys) => c.requests_per_month.map((x, i) => ({ x, y: ys[i] }));
    const selfAt = (x) => {
      let y = c0.self_hosted_usd_per_month[0];
      c0.requests_per_month.forEach((v, i) => { if (v <= x) y = c0.self_hosted_usd_per_month[i]; });
      return y;
    };
    const datasets = [{ label: "self-hosted" + (plan.recommended ? ` (${label(plan.recommended)})` : ""), data: pts(c0, c0.self_hosted_usd_per_month), stepped: "after", borderColor: "#2456c7", pointRadius: 0 }];
    const colors = ["#b3261e", "#1b7f3b", "#8a5300", "#6b3fa0", "#00838f"];
    apis.forEach((a, i) => {
      const color = colors[i % colors.length];
      datasets.push({ label: a.api, data: pts(a.curve, a.curve.api_usd_per_month), borderColor: color, pointRadius: 0 });
      const x = a.breakeven_requests_per_month;
      if (x) datasets.push({ label: `breakeven vs ${a.api}: ${count(x)} req/month`, data: [{ x, y: selfAt(x) }], type: "scatter", pointStyle: "triangle", radius: 7, borderColor: color, backgroundColor: color });
    });
    if (here > 0) datasets.push({ label: `you are here: ${count(here)} req/month`, data: [{ x: here, y: selfAt(here) }], type: "scatter", pointStyle: "rectRot", radius: 9, borderColor: "#000", backgroundColor: "#ffd54f" });
    // the y range follows the self-hosted side, so a costly API does not flatten the crossover
    const xmax = Math.max(...c0.requests_per_month);
    const ymax = Math.max(...c0.self_hosted_usd_per_month) * 1.5;
    return draw(canvas, {
      type: "line",
      data: { datasets },
      options: {
        parsing: false,
        scales: { x: axis("requests per month", count, { type: "linear", min: 0, max: xmax }), y: axis("$/month", money, { min: 0, max: ymax }) },
        plugins: { legend: { labels: { boxWidth: 12, font: { size: 11 } } } },
      },
    });
  }

  function batch(canvas, records, plan) {
    const ok = (records || []).filter((x) => x.fits);
    const r = plan && plan.recommended;
    const datasets = [
      { label: "output tok/s per replica", data: ok.map((x) => ({ x: x.batch, y: x.output_tok_per_s })), yAxisID: "y", borderColor: "#2456c7", backgroundColor: "#2456c7" },
      { label: "TPOT ms", data: ok.map((x) => ({ x: x.batch, y: x.tpot_ms })), yAxisID: "y2", borderColor: "#b3261e", backgroundColor: "#b3261e" },
    ];
    if (r) datasets.push({ label: `planned max batch ${r.max_batch}`, data: [{ x: r.max_batch, y: 0 }], type: "scatter", pointStyle: "line", radius: 0, borderColor: "#000" });
    const slo = plan && plan.workload && plan.workload.slo;
    if (slo && slo.tpot_p95_ms && ok.length) {
      datasets.push({ label: `TPOT SLO ${slo.tpot_p95_ms} ms`, data: [{ x: ok[0].batch, y: slo.tpot_p95_ms }, { x: ok[ok.length - 1].batch, y: slo.tpot_p95_ms }], yAxisID: "y2", borderDash: [6, 4], borderColor: "#999", pointRadius: 0 });
    }
    return draw(canvas, {
      type: "line",
      data: { datasets },
      options: { parsing: false, scales: { x: axis("sequences in flight (batch)", null, { type: "logarithmic" }), y: axis("output tok/s", count), y2: axis("TPOT (ms)", null, { position: "right", grid: { drawOnChartArea: false } }) } },
    });
  }

  function budget(canvas, plan) {
    const rows = [];
    if (plan.recommended) rows.push({ k: "now", c: plan.recommended });
    (plan.horizons || []).forEach((h) => { if (h.deployment) rows.push({ k: `${h.days} days`, c: h.deployment }); });
    return draw(canvas, {
      type: "bar",
      data: { labels: rows.map((r) => `${r.k}: ${r.c.replicas}× ${label(r.c)}`), datasets: [{ label: "$/month", data: rows.map((r) => r.c.usd_per_month), backgroundColor: "#2456c7" }] },
      options: { indexAxis: "y", scales: { x: axis("$/month", money, { min: 0 }) }, plugins: { legend: { display: false } } },
    });
  }

  function timeline(canvas, sim, slo) {
    const w = (sim && sim.windows) || {};
    const t = w.t_s || [];
    const series = (k) => (w[k] || []).map((y, i) => ({ x: t[i], y }));
    const datasets = [
      { label: "TTFT p95 (ms)", data: series("ttft_p95"), borderColor: "#2456c7", pointRadius: 0 },
      { label: "TTFT p50 (ms)", data: series("ttft_p50"), borderColor: "#8a94a6", pointRadius: 0 },
    ];
    if (slo && slo.ttft_p95_ms && t.length) datasets.push({ label: `TTFT SLO ${slo.ttft_p95_ms} ms`, data: [{ x: t[0], y: slo.ttft_p95_ms }, { x: t[t.length - 1], y: slo.ttft_p95_ms }], borderDash: [6, 4], borderColor: "#b3261e", pointRadius: 0 });
    return draw(canvas, { type: "line", data: { datasets }, options: { parsing: false, scales: { x: axis("simulated time (s)", null, { type: "linear" }), y: axis("ms", null, { min: 0 }) } } });
  }

  global.FleetplanCharts = { pareto, volume, batch, budget, timeline, money, count, label };
})(window);

/* Autoscaling: traffic and replicas per policy over time; TTFT p95 per window per policy. */
(function (global) {
  "use strict";
  const C = global.FleetplanCharts;
  const colors = ["#2456c7", "#b3261e", "#1b7f3b", "#8a5300", "#6b3fa0", "#00838f", "#555"];
  function draw(canvas, config) {
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false, parsing: false }, config.options || {});
    const chart = new global.Chart(canvas, config);
    canvas.dataset.rendered = "1";
    return chart;
  }
  function hours(t) { return t / 3600; }
  C.autoscaleReplicas = function (canvas, result) {
    const ps = result.policies || [];
    const tl = ps.length ? ps[0].timeline : { t_s: [], arrival_qps: [] };
    const datasets = [{ label: "traffic (req/s)", data: tl.t_s.map((t, i) => ({ x: hours(t), y: tl.arrival_qps[i] })), yAxisID: "y", borderColor: "#999", backgroundColor: "rgba(150,150,150,0.15)", fill: true, pointRadius: 0 }];
    ps.forEach((p, k) => datasets.push({ label: `${p.name} replicas`, data: p.timeline.t_s.map((t, i) => ({ x: hours(t), y: p.timeline.replicas_billed[i] })), yAxisID: "y2", stepped: true, borderColor: colors[k % colors.length], pointRadius: 0, borderWidth: 1.5 }));
    return draw(canvas, { type: "line", data: { datasets }, options: { scales: {
      x: { type: "linear", title: { display: true, text: "hours from the start" } },
      y: { title: { display: true, text: "requests/s" }, min: 0 },
      y2: { position: "right", title: { display: true, text: "replicas" }, min: 0, grid: { drawOnChartArea: false } } } } });
  };
  C.autoscaleLatency = function (canvas, result) {
    const ps = result.policies || [];
    const datasets = ps.map((p, k) => ({ label: p.name, data: p.timeline.t_s.map((t, i) => ({ x: hours(t), y: p.timeline.ttft_p95_ms[i] })).filter((d) => d.y !== null), borderColor: colors[k % colors.length], pointRadius: 0, borderWidth: 1.5 }));
    const slo = result.slo && result.slo.ttft_p95_ms;
    const tl = ps.length ? ps[0].timeline.t_s : [];
    if (slo && tl.length) datasets.push({ label: `TTFT SLO ${slo} ms`, data: [{ x: 0, y: slo }, { x: hours(tl[tl.length - 1]), y: slo }], borderDash: [6, 4], borderColor: "#000", pointRadius: 0 });
    return draw(canvas, { type: "line", data: { datasets }, options: { scales: {
      x: { type: "linear", title: { display: true, text: "hours from the start" } },
      y: { type: "logarithmic", title: { display: true, text: "TTFT p95 per window (ms)" } } } } });
  };
})(window);

/* Forecast: hourly history, the forecast mean with its interval band and the sizing quantile,
   and each horizon's peak at that quantile; days from the first forecast hour. */
(function (global) {
  "use strict";
  const C = global.FleetplanCharts;
  function line(xs, ys, extra) {
    return Object.assign({ data: xs.map((x, i) => ({ x, y: ys[i] })), pointRadius: 0, borderWidth: 1.2 }, extra);
  }
  C.forecastTraffic = function (canvas, d) {
    const h = d.history, f = d.forecast;
    const pct = Math.round(d.level * 100);
    const datasets = [
      line(h.t_days, h.qps, { label: "history (req/s, hourly)", borderColor: "#888" }),
      line(f.t_days, f.low_qps, { label: `${pct} % interval`, borderColor: "rgba(36,86,199,0.25)", backgroundColor: "rgba(36,86,199,0.15)" }),
      line(f.t_days, f.high_qps, { label: `${pct} % interval (high)`, borderColor: "rgba(36,86,199,0.25)", backgroundColor: "rgba(36,86,199,0.15)", fill: "-1" }),
      line(f.t_days, f.mean_qps, { label: "forecast mean", borderColor: "#2456c7" }),
      line(f.t_days, f.quantile_qps, { label: `quantile ${d.quantile}`, borderColor: "#b3261e", borderDash: [5, 3] }),
      { label: `horizon peak at quantile ${d.quantile}`, type: "scatter", data: d.horizons.map((x) => ({ x: x.days, y: x.peak_qps })), backgroundColor: "#b3261e", pointRadius: 5 },
    ];
    const chart = new global.Chart(canvas, { type: "line", data: { datasets }, options: {
      responsive: true, maintainAspectRatio: false, animation: false, parsing: false,
      plugins: { legend: { labels: { filter: (item) => !item.text.endsWith("(high)") } } },
      scales: {
        x: { type: "linear", title: { display: true, text: "days from the forecast start (history < 0)" } },
        y: { min: 0, title: { display: true, text: "requests/s" } } } } });
    canvas.dataset.rendered = "1";
    return chart;
  };
})(window);
