// The analyst dashboard's charts, drawn with Chart.js from the console's JSON endpoints
// (the documents `hailong report --format json` prints). Every word shown comes from the
// page's data-* attributes (console/templates/dashboard.html); nothing leaves the server.
"use strict";

(function () {
  const root = document.getElementById("dashboard");
  if (!root || typeof Chart === "undefined") {
    return;
  }
  const d = root.dataset;
  const TARGET = Number(d.target) * 100;
  const ON_TIME_TARGET = Number(d.onTimeTarget) * 100;
  const BLUE = "#1f5fa8";
  const PALE = "rgba(31, 95, 168, 0.28)";
  const GREEN = "#2e7d32";
  const PALE_GREEN = "rgba(46, 125, 50, 0.28)";
  const RED = "#c62828";
  const ORANGE = "#ef6c00";
  const GREY = "#757575";
  const charts = {};
  const state = { unit: d.unit || "", procedure: "", report: null, trend: null };
  const status = document.getElementById("status");

  // A fraction as a percentage with two decimals; null when there is no value.
  function pct(figure) {
    if (!figure || figure.value === null || figure.value === undefined) {
      return null;
    }
    return Math.round(figure.value * 10000) / 100;
  }

  function isoDay(day) {
    const mm = String(day.getMonth() + 1).padStart(2, "0");
    const dd = String(day.getDate()).padStart(2, "0");
    return `${day.getFullYear()}-${mm}-${dd}`;
  }

  function period() {
    return {
      from: document.getElementById("from").value,
      to: document.getElementById("to").value,
    };
  }

  async function getJSON(url, by, dates) {
    const params = new URLSearchParams();
    by.forEach((value) => params.append("by", value));
    if (dates.from) params.set("from", dates.from);
    if (dates.to) params.set("to", dates.to);
    const response = await fetch(`${url}?${params}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) {
        // not JSON: keep the status text
      }
      throw new Error(detail);
    }
    return response.json();
  }

  // Dashed target lines across the value axis, each with its label (a plugin, so that a
  // chart with a single bar still shows its target).
  const targetLines = {
    id: "targets",
    afterDatasetsDraw(chart, _args, options) {
      const lines = (options && options.lines) || [];
      const horizontal = chart.options.indexAxis === "y";
      const scale = horizontal ? chart.scales.x : chart.scales.y;
      const area = chart.chartArea;
      const ctx = chart.ctx;
      lines.forEach((line, index) => {
        const at = scale.getPixelForValue(line.value);
        ctx.save();
        ctx.strokeStyle = line.color;
        ctx.fillStyle = line.color;
        ctx.lineWidth = 2;
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        if (horizontal) {
          ctx.moveTo(at, area.top);
          ctx.lineTo(at, area.bottom);
        } else {
          ctx.moveTo(area.left, at);
          ctx.lineTo(area.right, at);
        }
        ctx.stroke();
        ctx.font = "12px system-ui, sans-serif";
        if (horizontal) {
          // Above the bars, in the room `draw` leaves, one line of text per target.
          ctx.textAlign = "right";
          ctx.fillText(line.label, at, area.top - 4 - 14 * index);
        } else {
          ctx.fillText(line.label, area.left + 4, at - 4);
        }
        ctx.restore();
      });
    },
  };

  function shortLabel(value) {
    const text = String(this.getLabelForValue(value));
    const room = window.innerWidth < 600 ? 22 : 48;
    const mark = text.endsWith(" *") ? " *" : ""; // the small-sample mark always shows
    const name = mark ? text.slice(0, -2) : text;
    return name.length > room ? `${name.slice(0, room - 1)}…${mark}` : text;
  }

  function draw(id, rows, config) {
    if (charts[id]) {
      charts[id].destroy();
    }
    const canvas = document.getElementById(id);
    const horizontal = config.options && config.options.indexAxis === "y";
    const height = horizontal ? Math.max(220, 30 * Math.max(rows, 1) + 90) : 280;
    canvas.parentElement.style.height = `${height}px`;
    config.options = Object.assign(
      { animation: false, responsive: true, maintainAspectRatio: false },
      config.options,
    );
    if (horizontal) {
      // Long unit and procedure names are cut on the axis (a phone is narrow); the
      // tooltip and the selects keep them whole.
      const scales = config.options.scales || {};
      scales.y = Object.assign({ ticks: { callback: shortLabel } }, scales.y);
      config.options.scales = scales;
    }
    const targets = (config.options.plugins || {}).targets;
    if (horizontal && targets) {
      config.options.layout = { padding: { top: 14 * targets.lines.length + 4 } };
    }
    config.plugins = [targetLines];
    charts[id] = new Chart(canvas, config);
    return charts[id];
  }

  function label(name, figure) {
    const small = figure && figure.small_n;
    return small ? `${name} *` : name;
  }

  function nameOf(dim) {
    return dim ? dim.name || dim.code || "?" : "?";
  }

  function figureTooltip(figure) {
    if (!figure || figure.value === null) {
      return d.labelNoData;
    }
    const low = pct({ value: figure.ci_low });
    const high = pct({ value: figure.ci_high });
    const small = figure.small_n ? ` — ${d.labelSmall}` : "";
    return `n = ${figure.n} (${d.labelN}); 95%: ${low}–${high}${small}`;
  }

  // Horizontal bars of one figure per row, small samples pale, the target dashed.
  function barsOf(id, rows, nameFn, figureFn, onPick) {
    const canvas = document.getElementById(id);
    const figures = rows.map(figureFn);
    return draw(id, rows.length, {
      type: "bar",
      data: {
        labels: rows.map((row, i) => label(nameFn(row), figures[i])),
        datasets: [
          {
            label: canvas.dataset.label,
            data: figures.map(pct),
            backgroundColor: figures.map((f) => (f && f.small_n ? PALE : BLUE)),
            borderColor: BLUE,
            borderWidth: figures.map((f) => (f && f.small_n ? 1 : 0)),
          },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { min: 0, max: 100 } },
        onClick: (_event, elements) => {
          if (elements.length && onPick) onPick(rows[elements[0].index]);
        },
        plugins: {
          targets: { lines: [{ value: TARGET, color: RED, label: d.labelTarget }] },
          tooltip: { callbacks: { afterLabel: (ctx) => figureTooltip(figures[ctx.dataIndex]) } },
        },
      },
    });
  }

  function fillSelect(select, items, chosen) {
    const first = select.options[0];
    select.replaceChildren(first);
    items.forEach(([value, text]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      option.selected = value === chosen;
      select.append(option);
    });
  }

  function unitRows(report) {
    return report.units;
  }

  function drawUnits(report) {
    barsOf(
      "chart-units",
      unitRows(report),
      (row) => nameOf(row.unit),
      (row) => row.overall_index,
      (row) => {
        if (row.unit && row.unit.code) pickUnit(row.unit.code);
      },
    );
    const known = unitRows(report).filter((row) => row.unit && row.unit.code);
    fillSelect(
      document.getElementById("unit-select"),
      known.map((row) => [row.unit.code, row.unit.name]),
      state.unit,
    );
  }

  function drawTrend() {
    const canvas = document.getElementById("chart-trend");
    const months = state.trend.breakdowns[0].rows.filter(
      (row) => row.unit && row.unit.code === state.unit,
    );
    const figures = months.map((row) => row.overall_index);
    draw("chart-trend", months.length, {
      type: "line",
      data: {
        labels: months.map((row) => row.month),
        datasets: [
          {
            label: canvas.dataset.label,
            data: figures.map(pct),
            borderColor: BLUE,
            backgroundColor: BLUE,
            spanGaps: true,
            // Small samples: hollow, larger points.
            pointBackgroundColor: figures.map((f) => (f.small_n ? "#fff" : BLUE)),
            pointRadius: figures.map((f) => (f.small_n ? 5 : 3)),
          },
        ],
      },
      options: {
        scales: { y: { min: 0, max: 100 } },
        plugins: {
          targets: { lines: [{ value: TARGET, color: RED, label: d.labelTarget }] },
          tooltip: { callbacks: { afterLabel: (ctx) => figureTooltip(figures[ctx.dataIndex]) } },
        },
      },
    });
  }

  function drawProcedures() {
    const breakdown = state.report.breakdowns[1];
    const rows = breakdown.rows.filter(
      (row) => row.unit && row.unit.code === state.unit && !row.no_data,
    );
    if (!rows.some((row) => row.procedure && row.procedure.code === state.procedure)) {
      const first = rows.find((row) => row.procedure && row.procedure.code);
      state.procedure = first ? first.procedure.code : "";
    }
    fillSelect(
      document.getElementById("procedure-select"),
      rows
        .filter((row) => row.procedure && row.procedure.code)
        .map((row) => [row.procedure.code, row.procedure.name]),
      state.procedure,
    );
    barsOf(
      "chart-procedures",
      rows,
      (row) => nameOf(row.procedure),
      (row) => row.overall_index,
      (row) => {
        if (row.procedure && row.procedure.code) pickProcedure(row.procedure.code);
      },
    );
    drawCriteria(rows.find((row) => row.procedure && row.procedure.code === state.procedure));
  }

  function drawCriteria(row) {
    const texts = state.report.criteria_text || {};
    const entries = row ? Object.entries(row.criteria) : [];
    barsOf(
      "chart-criteria",
      entries,
      ([code]) => code,
      ([, figure]) => figure,
      null,
    );
    const list = document.getElementById("criteria-text");
    list.replaceChildren();
    entries.forEach(([code]) => {
      const term = document.createElement("dt");
      term.textContent = code;
      const text = document.createElement("dd");
      text.textContent = texts[code] || "";
      list.append(term, text);
    });
  }

  function draw766(report) {
    const canvas = document.getElementById("chart-766");
    const rows = report.ratio_766;
    const ratios = rows.map((row) => row.ratio);
    const onTime = rows.map((row) => row.on_time);
    draw("chart-766", rows.length * 2, {
      type: "bar",
      data: {
        labels: rows.map((row, i) => label(nameOf(row.unit), ratios[i])),
        datasets: [
          {
            label: canvas.dataset.labelRatio,
            data: ratios.map(pct),
            backgroundColor: ratios.map((f) => (f.small_n ? PALE : BLUE)),
          },
          {
            label: canvas.dataset.labelOnTime,
            data: onTime.map(pct),
            backgroundColor: onTime.map((f) => (f && f.small_n ? PALE_GREEN : GREEN)),
          },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { min: 0, max: 100 } },
        plugins: {
          targets: {
            lines: [
              { value: TARGET, color: RED, label: d.labelTarget },
              { value: ON_TIME_TARGET, color: ORANGE, label: d.labelOnTimeTarget },
            ],
          },
        },
      },
    });
  }

  function drawComplaints(report) {
    const rows = report.breakdowns[0].rows;
    const names = rows.map((row) => nameOf(row.unit));
    const rates = document.getElementById("chart-complaint-rates").dataset;
    draw("chart-complaint-rates", rows.length * 2, {
      type: "bar",
      data: {
        labels: rows.map((row, i) => label(names[i], row.on_time)),
        datasets: [
          {
            label: rates.labelOnTime,
            data: rows.map((row) => pct(row.on_time)),
            backgroundColor: rows.map((row) => (row.on_time.small_n ? PALE : BLUE)),
          },
          {
            label: rates.labelSatisfaction,
            data: rows.map((row) => pct(row.satisfaction)),
            backgroundColor: rows.map((row) => (row.satisfaction.small_n ? PALE_GREEN : GREEN)),
          },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { min: 0, max: 100 } },
        plugins: {
          targets: {
            lines: [
              { value: report.targets.on_time * 100, color: ORANGE, label: d.labelComplaintTarget },
              { value: report.targets.satisfaction * 100, color: RED, label: d.labelTarget },
            ],
          },
        },
      },
    });
    const counts = document.getElementById("chart-complaint-counts").dataset;
    draw("chart-complaint-counts", rows.length * 2, {
      type: "bar",
      data: {
        labels: names,
        datasets: [
          { label: counts.labelOpen, data: rows.map((row) => row.open), backgroundColor: GREY },
          { label: counts.labelOverdue, data: rows.map((row) => row.overdue), backgroundColor: RED },
        ],
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
    });
    const hours = document.getElementById("chart-complaint-hours").dataset;
    draw("chart-complaint-hours", rows.length * 2, {
      type: "bar",
      data: {
        labels: names,
        datasets: [
          {
            label: hours.labelMedian,
            data: rows.map((row) => row.hours_to_answer.median),
            backgroundColor: BLUE,
          },
          {
            label: hours.labelP90,
            data: rows.map((row) => row.hours_to_answer.p90),
            backgroundColor: PALE,
          },
        ],
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
    });
  }

  function drawElements() {
    const names = JSON.parse(d.elementNames || "{}");
    const row = state.report.units.find((r) => r.unit && r.unit.code === state.unit);
    const entries = row ? Object.entries(row.elements) : [];
    barsOf(
      "chart-elements",
      entries,
      ([code]) => (names[code] ? `${names[code]} (${code})` : code),
      ([, figure]) => figure,
      null,
    );
  }

  function pickUnit(code) {
    state.unit = code;
    document.getElementById("unit-select").value = code;
    drawTrend();
    drawElements();
    drawProcedures();
  }

  function pickProcedure(code) {
    state.procedure = code;
    drawProcedures();
  }

  async function load() {
    root.dataset.ready = "";
    status.className = "loading";
    status.textContent = d.labelLoading;
    const now = new Date();
    const year = { from: isoDay(new Date(now.getFullYear(), now.getMonth() - 11, 1)), to: isoDay(now) };
    try {
      const [report, trend, complaints] = await Promise.all([
        getJSON(d.satisfactionUrl, ["unit", "unit,procedure"], period()),
        getJSON(d.satisfactionUrl, ["unit,month"], year),
        getJSON(d.complaintsUrl, ["unit"], period()),
      ]);
      state.report = report;
      state.trend = trend;
      if (!state.unit) {
        const first = report.units.find((row) => row.unit && row.unit.code && !row.no_data);
        state.unit = first ? first.unit.code : "";
      }
      drawUnits(report);
      drawTrend();
      drawElements();
      drawProcedures();
      draw766(report);
      drawComplaints(complaints);
      status.className = "";
      // When the figures were computed (the rollup's last rebuild, or now when read live).
      const asOf = report.figures_as_of ? new Date(report.figures_as_of) : null;
      status.textContent = asOf
        ? `${d.labelAsOf} ${asOf.toLocaleString("vi-VN", { dateStyle: "short", timeStyle: "short" })}`
        : "";
      root.dataset.ready = "1";
    } catch (error) {
      status.className = "error";
      status.textContent = `${d.labelError}: ${error.message}`;
      root.dataset.ready = "error";
    }
  }

  document.getElementById("unit-select").addEventListener("change", (event) => {
    if (event.target.value) pickUnit(event.target.value);
  });
  document.getElementById("procedure-select").addEventListener("change", (event) => {
    if (event.target.value) pickProcedure(event.target.value);
  });
  document.getElementById("filters").addEventListener("submit", (event) => {
    // Only «Xem» redraws in place; the download buttons submit to their own URLs.
    if (event.submitter && event.submitter.id === "apply") {
      event.preventDefault();
      const dates = period();
      const params = new URLSearchParams();
      if (dates.from) params.set("from", dates.from);
      if (dates.to) params.set("to", dates.to);
      history.replaceState(null, "", `${location.pathname}?${params}`);
      load();
    }
  });
  load();
})();
