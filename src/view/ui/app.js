// Baton's run page: renders the view document (src/view/run_view.h) that /api/run serves, or
// that a report inlines, with Chart.js; polls every 2 s when served. It writes what it drew into
// #baton-state (points per curve, their last values, the timeline's rows, errors caught), which
// the browser test reads.
(function () {
  "use strict";
  var errors = [];
  var origError = console.error;
  console.error = function () {
    errors.push(Array.prototype.map.call(arguments, String).join(" "));
    return origError.apply(console, arguments);
  };
  window.addEventListener("error", function (e) { errors.push("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) {
    errors.push("unhandled rejection: " + (e.reason && e.reason.message || e.reason));
  });

  var CURVES = {  // chart -> the log's series drawn on it
    "loss": ["loss", "eval_loss"],
    "learning_rate": ["learning_rate"],
    "grad_norm": ["grad_norm"],
    "token_acc": ["token_acc", "eval_token_acc"]
  };
  var COLORS = ["#1565c0", "#e65100", "#2e7d32", "#6a1b9a"];
  var STATES = {booting: "#9e9e9e", loading: "#ffb300", standby: "#8e24aa",
                training: "#1e88e5", stopping: "#e53935"};
  var charts = {};
  var timeline = null;
  var updates = 0;
  var lastView = null;

  function $(id) { return document.getElementById(id); }
  function text(s) { return document.createTextNode(s == null ? "" : String(s)); }
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content != null) e.appendChild(text(content));
    return e;
  }
  function fmtNum(v, digits) {
    if (v == null || !isFinite(v)) return "–";
    if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(2);
    return v.toFixed(digits == null ? 4 : digits).replace(/\.?0+$/, "");
  }
  function fmtDuration(s) {
    if (s == null || !isFinite(s)) return "–";
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s";
  }
  function fmtBytes(b) {
    if (b == null) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + " " + units[i];
  }
  // The agent's cold start (heartbeat): "8.3 s: download 7.2, load 1.1" (parts of 0.1 s or more).
  function coldStartText(c) {
    if (!c) return "–";
    var parts = ["download", "digest", "load", "data", "resume"].filter(function (k) {
      return c[k] >= 0.05;
    }).map(function (k) { return k + " " + c[k].toFixed(1); });
    return c.total.toFixed(1) + " s" + (parts.length ? ": " + parts.join(", ") : "");
  }
  function fmtMoney(v) { return v == null ? "–" : v.toFixed(2); }
  function fmtTime(ms) { return ms ? new Date(ms).toLocaleTimeString() : "–"; }
  function stat(label, value) {
    var span = el("span");
    span.appendChild(text(label + " "));
    span.appendChild(el("b", null, value));
    return span;
  }
  function fill(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (c) { node.appendChild(c); });
  }
  function row(cells, header) {
    var tr = el("tr");
    cells.forEach(function (c) {
      var td = el(header ? "th" : "td", c && c.cls, c && c.v !== undefined ? c.v : c);
      tr.appendChild(td);
    });
    return tr;
  }

  function lineChart(name) {
    return new Chart($("chart-" + name), {
      type: "line",
      data: {datasets: []},
      options: {
        animation: false, responsive: true, maintainAspectRatio: true, aspectRatio: 2.2,
        parsing: false, normalized: true,
        scales: {x: {type: "linear", title: {display: true, text: "step"}}},
        elements: {point: {radius: 2}, line: {borderWidth: 2, tension: 0}},
        plugins: {legend: {display: true, position: "bottom"}}
      }
    });
  }

  function renderCurves(view) {
    Object.keys(CURVES).forEach(function (name) {
      if (!charts[name]) charts[name] = lineChart(name);
      var chart = charts[name];
      var datasets = [];
      CURVES[name].forEach(function (series, i) {
        var pts = view.curves[series];
        if (!pts) return;
        datasets.push({label: series, borderColor: COLORS[i], backgroundColor: COLORS[i],
                       data: pts.map(function (p) { return {x: p[0], y: p[1]}; })});
      });
      chart.data.datasets = datasets;
      chart.update("none");
    });
  }

  function instanceLabel(i) {
    return i.id + (i.billing ? " · " + i.billing : "") + (i.zone ? " · " + i.zone : "");
  }

  function renderTimeline(view) {
    var labels = view.instances.map(instanceLabel);
    var datasets = Object.keys(STATES).map(function (state) {
      var data = [];
      view.instances.forEach(function (inst, k) {
        inst.segments.forEach(function (seg) {
          if (seg.state === state) data.push({x: [seg.from_s / 60, seg.to_s / 60], y: labels[k]});
        });
      });
      return {label: state, data: data, backgroundColor: STATES[state], borderSkipped: false,
              barPercentage: 0.7, categoryPercentage: 1, grouped: false};
    });
    $("chart-timeline").parentNode.style.height = Math.max(120, 36 * labels.length + 70) + "px";
    if (!timeline) {
      timeline = new Chart($("chart-timeline"), {
        type: "bar",
        data: {labels: labels, datasets: datasets},
        options: {
          animation: false, indexAxis: "y", responsive: true, maintainAspectRatio: false,
          scales: {x: {type: "linear", min: 0, title: {display: true,
                   text: view.time_scale !== 1 ? "minutes (simulated)" : "minutes"}},
                   y: {type: "category", stacked: true}},
          plugins: {legend: {position: "bottom"}}
        }
      });
    } else {
      timeline.data.labels = labels;
      timeline.data.datasets = datasets;
      timeline.update("none");
    }
    var per = view.cost && view.cost.per_instance || {};
    var rows = [row(["instance", "offer", "billing", "state", "how it ended", "cost",
                     "to first step", "detail"], true)];
    view.instances.forEach(function (i) {
      rows.push(row([i.id, i.instance_type, i.billing, i.state, i.end_reason || "–",
                     {v: fmtMoney(per[i.id]), cls: "num"}, coldStartText(i.cold_start),
                     i.detail]));
    });
    fill($("instances-table"), rows);
  }

  function renderProgress(view) {
    var p = view.progress;
    $("progress-fill").style.width = Math.min(100, 100 * p.fraction).toFixed(1) + "%";
    fill($("progress-text"), [
      stat("step", p.step + " / " + (p.max_steps || "?")),
      stat("done", (100 * p.fraction).toFixed(1) + "%"),
      stat("ETA", view.complete ? "done" : fmtDuration(p.eta_seconds)),
      stat("tokens/s", fmtNum(p.tokens_per_second, 1)),
      stat("steps/s", fmtNum(p.steps_per_second, 3)),
      stat("state", p.state)
    ]);
    var c = view.cost;
    fill($("cost-text"), c ? [
      stat("so far", fmtMoney(c.so_far)),
      stat("all on-demand", fmtMoney(c.on_demand_baseline)),
      stat("saving", c.saving_fraction == null ? "–" : (100 * c.saving_fraction).toFixed(1) + "%"),
      stat("spot", fmtMoney(c.spot_cost)),
      stat("on-demand", fmtMoney(c.on_demand_cost)),
      stat("interruptions", c.interruptions),
      stat("policy", c.policy)
    ] : [el("span", "muted", "no fleet bills this run")]);
  }

  function renderCheckpoints(view) {
    var rows = [row(["step", "size", "state", "when"], true)];
    view.checkpoints.slice().reverse().forEach(function (c) {
      rows.push(row([{v: c.step, cls: "num"}, {v: fmtBytes(c.bytes), cls: "num"},
                     {v: c.state + (c.reason ? ": " + c.reason : ""), cls: c.state},
                     fmtTime(c.created_unix_ms)]));
    });
    fill($("checkpoints-table"), rows);
  }

  function renderEvents(view) {
    fill($("events-list"), view.events.slice().reverse().map(function (e) {
      return el("li", null, fmtTime(e.unix_ms) + "  " + e.text);
    }));
    $("warnings-section").hidden = view.warnings.length === 0;
    fill($("warnings-list"), view.warnings.map(function (w) { return el("li", null, w); }));
  }

  function writeState(live) {
    var curves = {};
    Object.keys(charts).forEach(function (name) {
      charts[name].data.datasets.forEach(function (d) {
        var last = d.data.length ? d.data[d.data.length - 1] : null;
        curves[d.label] = {points: d.data.length, last_step: last && last.x,
                           last_value: last && last.y};
      });
    });
    var rows = [];
    if (timeline && lastView) {
      lastView.instances.forEach(function (inst, k) {
        var label = timeline.data.labels[k];
        var bars = 0;
        timeline.data.datasets.forEach(function (d) {
          d.data.forEach(function (b) { if (b.y === label) bars++; });
        });
        rows.push({id: inst.id, label: label, bars: bars, end_reason: inst.end_reason,
                   state: inst.state});
      });
    }
    $("baton-state").textContent = JSON.stringify({
      loaded: updates > 0, live: live, updates: updates, curves: curves, timeline: rows,
      checkpoints: lastView ? lastView.checkpoints.length : 0,
      step: lastView ? lastView.progress.step : null, errors: errors
    });
  }

  function render(view, live) {
    lastView = view;
    $("run-name").textContent = view.name || "";
    $("run-url").textContent = view.run;
    document.title = "Baton " + (view.name || view.run);
    var badge = $("status");
    badge.textContent = view.complete ? "complete" : view.progress.state;
    badge.className = "badge " + (view.complete ? "complete" : "training");
    renderProgress(view);
    renderCurves(view);
    renderTimeline(view);
    renderCheckpoints(view);
    renderEvents(view);
    updates++;
    writeState(live);
  }

  function poll() {
    fetch("api/run", {cache: "no-store"}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (view) {
      render(view, true);
    }).catch(function (e) {
      var badge = $("status");
      badge.textContent = "cannot reach baton ui (" + e.message + "); retrying";
      badge.className = "badge offline";
    }).then(function () { setTimeout(poll, 2000); });
  }

  var inline = JSON.parse($("baton-data").textContent);
  if (inline) {
    $("report-link").hidden = true;  // this is the report
    render(inline, false);
  } else {
    writeState(true);
    poll();
  }
})();
