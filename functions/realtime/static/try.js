// The try-it page. Everything it shows comes from the API it is served by: the models
// (GET models), each model's card (GET models/{name}/card) and predictions (POST
// models/{name}/predict). Values from the manifest are only ever inserted as text.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { card: null, loading: 0 };
  // Pages of the CSV that API Gateway throttled (429) or that met a 503 are sent again
  // this many times, waiting a little longer each time.
  const RETRIES = 4;

  // ----- small DOM helpers (text only, never HTML) -------------------------------------
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  function formatNumber(value, digits = 4) {
    if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    const magnitude = Math.abs(value);
    if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-3)) return value.toExponential(3);
    return String(Number(value.toPrecision(digits)));
  }

  function bars(list, items, topIndex) {
    // items: [{label, share (0..1 of the track), text}]
    clear(list);
    items.forEach((item, index) => {
      const fill = el("span", { className: "fill" });
      fill.style.width = `${Math.max(0, Math.min(1, item.share)) * 100}%`;
      list.append(
        el(
          "li",
          { className: index === topIndex ? "top" : null },
          el("span", { className: "label" }, item.label),
          el("span", { className: "track", "aria-hidden": "true" }, fill),
          el("span", { className: "value" }, item.text),
        ),
      );
    });
  }

  // ----- the API ------------------------------------------------------------------------
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: { accept: "application/json", ...(options.headers || {}) } });
    } catch (error) {
      return { status: 0, body: null, message: `the API cannot be reached (${error.message})` };
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (error) {
      body = null;
    }
    const message =
      body && body.error && typeof body.error === "object"
        ? body.error.message
        : body && typeof body.message === "string"
          ? body.message
          : `${response.status} ${response.statusText}`;
    return { status: response.status, body, message };
  }

  function errorDetails(result) {
    const details = result.body && result.body.error && result.body.error.details;
    return Array.isArray(details) ? details : [];
  }

  // ----- CSV ------------------------------------------------------------------------------
  function csvField(value, delimiter = ",") {
    const text = String(value);
    // An empty field is written "": a one-column row of one empty value is then not a
    // blank line (which the API skips).
    const special = text === "" || text.includes(delimiter) || /["\r\n]/.test(text) || text !== text.trim();
    return special ? `"${text.replace(/"/g, '""')}"` : text;
  }

  // The delimiter of a file: the one of , ; tab | found most often outside quotes in its
  // first line (the wine data uses semicolons).
  function sniffDelimiter(text) {
    let quoted = false;
    const counts = { ",": 0, ";": 0, "\t": 0, "|": 0 };
    for (const char of text.slice(0, 65536)) {
      if (char === '"') quoted = !quoted;
      else if (!quoted && (char === "\n" || char === "\r")) break;
      else if (!quoted && char in counts) counts[char] += 1;
    }
    return Object.entries(counts).reduce((best, entry) => (entry[1] > best[1] ? entry : best), [",", 0])[0];
  }

  // Split CSV text into records as RFC 4180 reads it (quoted fields may hold commas and
  // line breaks). Each record keeps its exact text, the file line it starts on and its
  // fields; blank lines are skipped, as the API skips them.
  function* csvRecords(text, delimiter) {
    let start = 0;
    let line = 1;
    let position = 0;
    const length = text.length;
    if (text.charCodeAt(0) === 0xfeff) start = position = 1;
    while (start < length) {
      const fields = [];
      let field = "";
      let quoted = false;
      let recordLine = line;
      let end = -1;
      let next = length;
      position = start;
      let fieldStart = true;
      while (position < length) {
        const char = text[position];
        if (quoted) {
          if (char === '"') {
            if (text[position + 1] === '"') {
              field += '"';
              position += 2;
              continue;
            }
            quoted = false;
          } else {
            if (char === "\n" || (char === "\r" && text[position + 1] !== "\n")) line += 1;
            field += char;
          }
          position += 1;
          continue;
        }
        if (char === '"' && fieldStart) {
          quoted = true;
          fieldStart = false;
          position += 1;
          continue;
        }
        if (char === delimiter) {
          fields.push(field);
          field = "";
          fieldStart = true;
          position += 1;
          continue;
        }
        if (char === "\r" || char === "\n") {
          end = position;
          next = position + (char === "\r" && text[position + 1] === "\n" ? 2 : 1);
          line += 1;
          break;
        }
        field += char;
        fieldStart = false;
        position += 1;
      }
      if (end < 0) end = length;
      fields.push(field);
      const raw = text.slice(start, end);
      start = next;
      if (raw.trim() === "") continue;
      yield { raw, line: recordLine, fields, unterminated: quoted, ending: text.slice(end, next) };
    }
  }

  // ----- loading a model ------------------------------------------------------------------
  async function loadModels() {
    const result = await api("models");
    if (result.status !== 200) {
      $("status").textContent = `The models cannot be listed: ${result.message}`;
      return;
    }
    const models = result.body.models || [];
    const select = clear($("model"));
    for (const model of models) {
      select.append(el("option", { value: model.name }, model.default ? `${model.name} (default)` : model.name));
    }
    $("chooser").hidden = models.length < 2;
    const wanted = new URLSearchParams(location.hash.slice(1)).get("model");
    if (wanted && models.some((model) => model.name === wanted)) select.value = wanted;
    select.addEventListener("change", () => {
      history.replaceState(null, "", `#model=${encodeURIComponent(select.value)}`);
      loadCard(select.value);
    });
    // A link or the history to another #model=<name> shows that model.
    window.addEventListener("hashchange", () => {
      const named = new URLSearchParams(location.hash.slice(1)).get("model");
      if (named && named !== select.value && models.some((model) => model.name === named)) {
        select.value = named;
        loadCard(named);
      }
    });
    if (models.length) await loadCard(select.value);
    else $("status").textContent = "This function serves no model.";
  }

  async function loadCard(name) {
    const ticket = ++state.loading;
    $("status").textContent = `Loading ${name}...`;
    const result = await api(`models/${encodeURIComponent(name)}/card`);
    if (ticket !== state.loading) return; // another model was chosen meanwhile
    if (result.status !== 200) {
      $("status").textContent = `${name} cannot be shown: ${result.message}`;
      $("main").hidden = true;
      return;
    }
    const card = result.body;
    state.card = card;
    cancelPrediction();
    renderCard(card);
    renderForm(card);
    renderDrawing(card);
    resetCsv("another model was chosen");
    $("main").hidden = false;
    $("status").textContent = `${card.name}, version ${card.version}: ready.`;
    document.title = `${card.name} - try the model`;
  }

  // ----- the model card -------------------------------------------------------------------
  function renderCard(card) {
    const facts = clear($("facts"));
    const trained = card.created_at ? new Date(card.created_at) : null;
    const rows = [
      ["Model", card.name],
      ["Version", card.version],
      ["Trained", trained && !Number.isNaN(trained.getTime()) ? el("time", { datetime: card.created_at }, trained.toLocaleString()) : "unknown"],
      ["Predicts", `${card.target} (${card.task})`],
      ["Estimator", card.estimator],
    ];
    if (card.classes) rows.push(["Classes", card.classes.join(", ")]);
    if (card.classes && card.probabilities === false) rows.push(["Probabilities", "none: this model answers labels only"]);
    if (card.source && card.source.file) rows.push(["Published from", card.source.file]);
    const live = card.live_quality;
    if (live) {
      const holdout = live.holdout === null ? "" : ` against ${formatNumber(live.holdout)} on the holdout`;
      const verdict = live.dropped ? " (dropped)" : "";
      rows.push(["Live quality", `${live.metric} ${formatNumber(live.value)} (95% ${formatNumber(live.low)} to ${formatNumber(live.high)})${holdout}, ${live.rows} labels, period to ${live.end}${verdict}`]);
    }
    for (const [term, value] of rows) facts.append(el("dt", {}, term), el("dd", {}, value));

    const metrics = card.metrics || {};
    const body = clear($("metrics").tBodies[0]);
    const names = Object.keys(metrics.holdout || {});
    names.sort((a, b) => (b === metrics.primary) - (a === metrics.primary));
    for (const name of names) {
      const baseline = (metrics.baseline || {})[name];
      body.append(
        el(
          "tr",
          { className: name === metrics.primary ? "primary" : null },
          el("th", { scope: "row" }, name === metrics.primary ? `${name} (primary)` : name),
          el("td", { className: "num" }, formatNumber(metrics.holdout[name])),
          el("td", { className: "num" }, baseline === undefined ? "-" : formatNumber(baseline)),
        ),
      );
    }
    $("baseline-head").textContent = card.task === "classification" ? "Baseline (the most frequent class)" : "Baseline (the training mean)";

    const importance = Array.isArray(card.importance) ? card.importance.slice(0, 12) : [];
    $("importance-title").hidden = $("importance-hint").hidden = $("importance").hidden = !importance.length;
    const largest = Math.max(...importance.map((item) => item.mean), 1e-12);
    bars(
      $("importance"),
      importance.map((item) => ({ label: item.column, share: item.mean / largest, text: formatNumber(item.mean, 3) })),
      0,
    );

    const links = clear($("links"));
    if (card.links.report) links.append(el("a", { href: card.links.report }, "Training report"));
    if (card.links.drift) links.append(el("a", { href: card.links.drift }, "Latest monitoring report"));
    if (!card.links.report && !card.links.drift) links.append("No training or monitoring report is published for this version.");
  }

  // ----- one row --------------------------------------------------------------------------
  function hintOf(feature) {
    if (feature.kind === "categorical") {
      return `${feature.categories.length} categories${feature.nullable ? ", may be left empty" : ""}`;
    }
    const parts = [];
    // The training values exactly as they are (the density column needs its 5 digits).
    if (feature.min !== null && feature.min !== undefined) parts.push(`${feature.min} to ${feature.max}`);
    if (feature.median !== null && feature.median !== undefined) parts.push(`median ${feature.median}`);
    if (feature.nullable) parts.push("may be left empty");
    return parts.length ? `Training data: ${parts.join(", ")}` : "";
  }

  function renderForm(card) {
    const fields = clear($("fields"));
    fields.classList.toggle("pixels", Boolean(card.image));
    state.inputs = new Map();
    card.features.forEach((feature, index) => {
      const id = `feature-${index}`;
      const hint = hintOf(feature);
      let input;
      if (feature.kind === "categorical") {
        input = el("select", { id, name: feature.name });
        input.append(el("option", { value: "" }, feature.nullable ? "(missing)" : "Choose..."));
        for (const category of feature.categories) input.append(el("option", { value: category }, category));
      } else {
        const placeholder =
          feature.median !== null && feature.median !== undefined
            ? String(feature.median)
            : feature.min !== null && feature.min !== undefined
              ? `${feature.min}-${feature.max}`
              : "";
        input = el("input", { id, name: feature.name, type: "text", inputmode: "decimal", autocomplete: "off", placeholder, spellcheck: "false" });
      }
      const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
      input.setAttribute("aria-describedby", describedBy);
      if (!feature.nullable) input.setAttribute("aria-required", "true");
      const field = el(
        "div",
        { className: "field" },
        el("label", { for: id }, feature.name),
        input,
        hint && !card.image ? el("span", { id: `${id}-hint`, className: "hint" }, hint) : null,
        el("span", { id: `${id}-error`, className: "error" }),
      );
      if (hint && card.image) input.setAttribute("title", hint);
      if (card.image) input.setAttribute("aria-describedby", `${id}-error`);
      fields.append(field);
      state.inputs.set(feature.name, { input, error: field.lastChild });
    });
    const medians = card.features.every((feature) => feature.kind === "categorical" || (feature.median !== null && feature.median !== undefined));
    $("medians").hidden = Boolean(card.image) || !medians;
    $("fields-summary").textContent = card.image ? `Pixel values (${card.features.length} fields)` : `Features (${card.features.length})`;
    $("fields-box").open = !card.image;
    clearResult();
  }

  // Every number at its training median and every category at its first value: a row to
  // start from.
  function fillMedians() {
    for (const feature of state.card.features) {
      const { input } = state.inputs.get(feature.name);
      input.value = feature.kind === "categorical" ? feature.categories[0] || "" : String(feature.median);
    }
    clearResult();
  }

  function clearResult() {
    $("prediction").textContent = "";
    clear($("probabilities"));
    $("form-error").textContent = "";
    for (const { input, error } of state.inputs.values()) {
      input.removeAttribute("aria-invalid");
      error.textContent = "";
    }
  }

  function showFieldErrors(details, fallback) {
    const general = [];
    let first = null;
    for (const detail of details) {
      const target = detail.column !== null && detail.column !== undefined ? state.inputs.get(detail.column) : null;
      if (!target) {
        general.push(detail.column ? `${detail.column}: ${detail.reason}` : detail.reason);
        continue;
      }
      target.input.setAttribute("aria-invalid", "true");
      target.error.textContent = detail.reason;
      if (!first) first = target.input;
    }
    // One announcement for the whole form; each field's reason is in its description.
    const fields = details.length - general.length;
    const summary = fields ? [`${fields} field${fields === 1 ? "" : "s"} to correct`] : [];
    if (general.length) summary.push(general.join("; "));
    $("form-error").textContent = summary.length ? summary.join(". ") : fallback;
    if (first) {
      if (state.card.image) $("fields-box").open = true;
      first.focus();
    }
  }

  // An answer still on its way is not shown (another model, a cleared drawing).
  function cancelPrediction() {
    state.predicting = (state.predicting || 0) + 1;
    $("predict").removeAttribute("aria-busy");
  }

  async function predictOne(event) {
    if (event) event.preventDefault();
    const card = state.card;
    if (!card) return;
    clearResult();
    const names = card.features.map((feature) => feature.name);
    const values = card.features.map((feature) => {
      const { value } = state.inputs.get(feature.name).input;
      return feature.kind === "categorical" ? value : value.trim();
    });
    const body = `${names.map((name) => csvField(name)).join(",")}\n${values.map((value) => csvField(value)).join(",")}\n`;
    // Only the newest request's answer is shown (a model change or a newer stroke wins).
    const ticket = (state.predicting = (state.predicting || 0) + 1);
    $("predict").setAttribute("aria-busy", "true");
    const started = performance.now();
    const result = await api(card.links.predict, { method: "POST", headers: { "content-type": "text/csv" }, body });
    if (ticket !== state.predicting || card !== state.card) return;
    $("predict").removeAttribute("aria-busy");
    if (result.status !== 200) {
      showFieldErrors(errorDetails(result), result.message);
      return;
    }
    const prediction = result.body.predictions[0];
    const elapsed = performance.now() - started;
    $("prediction").textContent = `${card.target}: ${typeof prediction === "number" ? formatNumber(prediction) : prediction}`;
    $("prediction").setAttribute("data-ms", elapsed.toFixed(1));
    const probabilities = result.body.probabilities && result.body.probabilities[0];
    if (probabilities) {
      const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
      bars(
        $("probabilities"),
        entries.map(([label, p]) => ({ label, share: p, text: `${(p * 100).toFixed(1)}%` })),
        0,
      );
    }
  }

  // ----- the drawing canvas (an image model: p_<row>_<column> pixels) ------------------------
  // A drawing is its strokes (lists of points) and the pixels set with the keyboard. The
  // strokes' pixels are made as the digits data's were: the ink scaled to fill the grid's
  // height or width (keeping its shape), drawn with a pen about a fifth of that size, and
  // on a grid 4 times finer the inked share of each 4 x 4 block scaled to the training
  // maximum (16 for digits), so a digit gives the same pixels however large it was drawn.
  // The keyboard sets pixels of that grid directly (Space: full ink, Delete: none), on
  // top of the strokes' pixels.
  const drawing = { ops: [], keyed: new Map(), cursor: [0, 0], down: false, focused: false };
  const FINE = 4;
  const PEN_SHARE = 0.22;

  function renderDrawing(card) {
    $("drawing").hidden = !card.image;
    if (!card.image) return;
    drawing.size = card.image.rows;
    drawing.ink = card.image.ink;
    clearDrawing();
  }

  function clearDrawing() {
    drawing.ops = [];
    drawing.keyed = new Map();
    drawing.cursor = [0, 0];
    show();
    updatePixels(false);
    clearResult();
  }

  // Paint the strokes through `place` (canvas coordinates -> the target's).
  function paint(context, pen, place) {
    context.strokeStyle = "#000";
    context.lineCap = "round";
    context.lineJoin = "round";
    context.lineWidth = pen;
    for (const op of drawing.ops) {
      const points = op.points.map(place);
      context.beginPath();
      context.moveTo(points[0][0], points[0][1]);
      for (const [x, y] of points) context.lineTo(x, y);
      context.stroke();
    }
  }

  function show() {
    const canvas = $("canvas");
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    paint(context, canvas.width / 9, (p) => p);
    // The keyboard's pixels, on the grid the canvas is drawn over.
    const step = canvas.width / drawing.size;
    for (const [key, value] of drawing.keyed) {
      const [row, column] = key.split(",").map(Number);
      const shade = Math.round(255 - (value / drawing.ink) * 255);
      context.fillStyle = `rgb(${shade},${shade},${shade})`;
      context.fillRect(column * step, row * step, step, step);
    }
    if (drawing.focused) {
      context.strokeStyle = "#f2a900";
      context.lineWidth = 3;
      context.strokeRect(drawing.cursor[1] * step + 1.5, drawing.cursor[0] * step + 1.5, step - 3, step - 3);
    }
  }

  function point(event) {
    const canvas = $("canvas");
    const box = canvas.getBoundingClientRect();
    const x = event.clientX - box.left - canvas.clientLeft;
    const y = event.clientY - box.top - canvas.clientTop;
    return [(x * canvas.width) / canvas.clientWidth, (y * canvas.height) / canvas.clientHeight];
  }

  function pixelValues() {
    const values = strokePixels();
    for (const [key, value] of drawing.keyed) {
      const [row, column] = key.split(",").map(Number);
      values[row * drawing.size + column] = value;
    }
    return values;
  }

  function strokePixels() {
    const size = drawing.size;
    const points = drawing.ops.flatMap((op) => op.points);
    if (!points.length) return new Array(size * size).fill(0);
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const fine = size * FINE;
    const pen = fine * PEN_SHARE;
    const extent = Math.max(right - left, bottom - top);
    const scale = extent > 0 ? (fine - pen) / extent : 1;
    const small = document.createElement("canvas");
    small.width = small.height = fine;
    const context = small.getContext("2d", { willReadFrequently: true });
    context.fillStyle = "#fff";
    context.fillRect(0, 0, fine, fine);
    const centre = [(left + right) / 2, (top + bottom) / 2];
    paint(context, pen, ([x, y]) => [fine / 2 + (x - centre[0]) * scale, fine / 2 + (y - centre[1]) * scale]);
    const pixels = context.getImageData(0, 0, fine, fine).data;
    const values = [];
    for (let row = 0; row < size; row += 1) {
      for (let column = 0; column < size; column += 1) {
        let inked = 0;
        for (let y = row * FINE; y < (row + 1) * FINE; y += 1) {
          for (let x = column * FINE; x < (column + 1) * FINE; x += 1) {
            if (pixels[(y * fine + x) * 4] < 128) inked += 1;
          }
        }
        values.push(Math.round((inked / (FINE * FINE)) * drawing.ink));
      }
    }
    return values;
  }

  function updatePixels(predict) {
    const values = pixelValues();
    state.card.features.forEach((feature, index) => {
      state.inputs.get(feature.name).input.value = String(values[index]);
    });
    const preview = $("preview");
    const context = preview.getContext("2d");
    const cell = preview.width / drawing.size;
    values.forEach((value, index) => {
      const shade = Math.round(255 - (value / drawing.ink) * 255);
      context.fillStyle = `rgb(${shade},${shade},${shade})`;
      context.fillRect((index % drawing.size) * cell, Math.floor(index / drawing.size) * cell, cell, cell);
    });
    const inked = values.filter((value) => value > 0).length;
    const [row, column] = drawing.cursor;
    $("canvas-status").textContent = `${drawing.size} by ${drawing.size} squares; ${inked} pixels inked; cursor at row ${row + 1}, column ${column + 1}`;
    if (!inked) {
      cancelPrediction();
      clearResult();
    } else if (predict) {
      predictOne();
    }
  }

  // The keyboard: Space inks the pixel at the cursor, Delete clears it.
  function setCell(inked) {
    drawing.keyed.set(drawing.cursor.join(","), inked ? drawing.ink : 0);
    show();
    updatePixels(true);
  }

  function bindDrawing() {
    const canvas = $("canvas");
    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      drawing.down = true;
      drawing.ops.push({ points: [point(event)] });
      show();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing.down) return;
      const stroke = drawing.ops[drawing.ops.length - 1].points;
      const [x0, y0] = stroke[stroke.length - 1];
      const [x1, y1] = point(event);
      // A point at least every 4 pixels: the shape's extent is that of its points.
      const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 4));
      for (let step = 1; step <= steps; step += 1) {
        stroke.push([x0 + ((x1 - x0) * step) / steps, y0 + ((y1 - y0) * step) / steps]);
      }
      show();
    });
    const finish = () => {
      if (!drawing.down) return;
      drawing.down = false;
      updatePixels(true);
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    canvas.addEventListener("keydown", (event) => {
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (moves[event.key]) {
        const [dr, dc] = moves[event.key];
        const limit = drawing.size - 1;
        drawing.cursor = [Math.max(0, Math.min(limit, drawing.cursor[0] + dr)), Math.max(0, Math.min(limit, drawing.cursor[1] + dc))];
        show();
        updatePixels(false);
      } else if (event.key === " " || event.key === "Enter") {
        setCell(true);
      } else if (event.key === "Delete" || event.key === "Backspace") {
        setCell(false);
      } else {
        return;
      }
      event.preventDefault();
    });
    canvas.addEventListener("focus", () => {
      drawing.focused = true;
      show();
    });
    canvas.addEventListener("blur", () => {
      drawing.focused = false;
      show();
    });
    $("clear").addEventListener("click", clearDrawing);
  }

  // ----- many rows: a CSV file, scored in pages ---------------------------------------------
  // A model change or a new file starts a new job; an older job still running sees that
  // its number is no longer current and stops without showing anything.
  function resetCsv(why = "") {
    const running = state.scoring;
    state.job = (state.job || 0) + 1;
    state.scoring = false;
    $("score").removeAttribute("aria-disabled");
    $("csv-status").textContent = running && why ? `Scoring stopped: ${why}.` : "";
    $("csv-error").textContent = "";
    $("csv").removeAttribute("aria-invalid");
    $("download").hidden = true;
    $("refused-download").hidden = true;
    $("refused-box").hidden = true;
    $("scored-box").hidden = true;
    for (const url of state.downloadUrls || []) URL.revokeObjectURL(url);
    state.downloadUrls = [];
  }

  const encoder = new TextEncoder();
  const bytes = (text) => encoder.encode(text).length;
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // The most rows shown in the table (all of them are in the download).
  const SHOWN_ROWS = 500;
  const REPLACEMENT = "\uFFFD";

  class Stopped extends Error {}

  // A page that cannot be scored: from its first line on, nothing more is.
  class PageError extends Error {
    constructor(line, message) {
      super(message);
      this.line = line;
    }
  }

  // Score one page of records. The rows the API refuses are taken out, with their
  // reasons, and the rest sent again, so that every good row is scored and every bad one
  // reported. The API lists at most `error_details` problems: when its list is full, the
  // last row it names may have more, so that row is sent again rather than taken out.
  async function scorePage(card, job, header, records, addProblem) {
    let pending = records;
    const cap = card.limits.error_details;
    for (let attempt = 0; pending.length; ) {
      const body = `${header}\n${pending.map((record) => record.encoded).join("\n")}\n`;
      const result = await api(card.links.predict, { method: "POST", headers: { "content-type": "text/csv" }, body });
      if (job !== state.job) throw new Stopped();
      if (result.status === 200) {
        if (!Array.isArray(result.body.predictions) || result.body.predictions.length !== pending.length) {
          throw new PageError(pending[0].line, `the API answered ${result.body.predictions.length} predictions for ${pending.length} rows`);
        }
        return pending.map((record, index) => ({
          record,
          prediction: result.body.predictions[index],
          probabilities: result.body.probabilities ? result.body.probabilities[index] : null,
        }));
      }
      if ((result.status === 429 || result.status === 503 || result.status === 0) && attempt < RETRIES) {
        attempt += 1;
        await pause(250 * 2 ** attempt);
        continue;
      }
      const details = errorDetails(result).filter((detail) => Number.isInteger(detail.row) && pending[detail.row]);
      if (result.status !== 422 || !details.length) {
        const listed = errorDetails(result).map((d) => (d.column ? `${d.column}: ${d.reason}` : d.reason));
        throw new PageError(pending[0].line, `${result.message}${listed.length ? ` (${listed.join("; ")})` : ""}`);
      }
      const rows = [...new Set(details.map((detail) => detail.row))];
      let complete = rows;
      const full = Number.isInteger(cap) && details.length >= cap;
      if (full && rows.length > 1) complete = rows.slice(0, -1);
      const bad = new Set(complete);
      for (const detail of details) {
        if (bad.has(detail.row)) addProblem(pending[detail.row], detail.column, detail.reason);
      }
      if (full && rows.length === 1) {
        addProblem(pending[rows[0]], null, "and more problems than the API lists at once");
      }
      pending = pending.filter((_, index) => !bad.has(index));
    }
    return [];
  }

  // The text of the file, and whether some bytes were not UTF-8 (each line with such
  // bytes is then refused, as batch scoring refuses it, instead of being guessed at).
  async function readText(file) {
    const buffer = await file.arrayBuffer();
    try {
      return { text: new TextDecoder("utf-8", { fatal: true }).decode(buffer), lossy: false };
    } catch (error) {
      return { text: new TextDecoder("utf-8").decode(buffer), lossy: true };
    }
  }

  async function scoreFile() {
    const card = state.card;
    const file = $("csv").files[0];
    resetCsv(); // a run still going is replaced by this one
    const job = state.job;
    if (!file) {
      $("csv-error").textContent = "Choose a CSV file first.";
      $("csv").setAttribute("aria-invalid", "true");
      $("csv").focus();
      return;
    }
    state.scoring = true;
    $("score").setAttribute("aria-disabled", "true");
    const started = performance.now();
    const refusedRows = new Map(); // file line -> [{column, reason}]
    const rawLines = new Map(); // file line -> the refused row's text
    const addProblem = (record, column, reason) => {
      if (!refusedRows.has(record.line)) {
        refusedRows.set(record.line, []);
        rawLines.set(record.line, record.raw);
      }
      refusedRows.get(record.line).push({ column, reason });
    };
    const scored = [];
    let read = 0;
    let header = null;
    let delimiter = ",";
    let stopped = null;
    try {
      const { text, lossy } = await readText(file);
      if (job !== state.job) return;
      delimiter = sniffDelimiter(text);
      const records = csvRecords(text, delimiter);
      const first = records.next();
      if (first.done) throw new Error("the file is empty: expected a header row and data rows");
      header = first.value;
      if (lossy && header.raw.includes(REPLACEMENT)) throw new Error("the header row is not UTF-8 text");
      const columns = header.fields.length;
      // Only the model's columns are sent (the API would ignore the others): each by the
      // first header field of its name.
      const known = new Set(card.features.map((feature) => feature.name));
      const used = [];
      header.fields.forEach((name, index) => {
        if (known.has(name.trim()) && !used.some((i) => header.fields[i].trim() === name.trim())) used.push(index);
      });
      if (!used.length) {
        throw new Error(`the first row names none of the model's columns (${card.features[0].name}, ...): the file needs a header row`);
      }
      const encode = (record) => used.map((index) => csvField(record.fields[index])).join(",");
      const headerText = encode(header);
      const { max_rows: maxRows, max_bytes: maxBytes } = card.limits;
      // A request is the header line, then each row's line, each ending in "\n".
      const headerBytes = bytes(headerText) + 1;
      if (headerBytes >= maxBytes) throw new Error(`the header alone is over the request limit of ${maxBytes} bytes`);
      const refuse = (record, reason) => addProblem(record, null, reason);
      let page = [];
      let pageBytes = headerBytes;
      let told = performance.now();
      const flush = async () => {
        if (!page.length) return;
        scored.push(...(await scorePage(card, job, headerText, page, addProblem)));
        page = [];
        pageBytes = headerBytes;
        // Progress at most once a second: a screen reader announces every change.
        if (performance.now() - told >= 1000) {
          told = performance.now();
          $("csv-status").textContent = `Scored ${scored.length} rows so far; ${refusedRows.size} refused.`;
        }
      };
      for (const record of records) {
        read += 1;
        if (lossy && record.raw.includes(REPLACEMENT)) {
          refuse(record, "the line is not UTF-8 text");
        } else if (record.unterminated) {
          refuse(record, "a quoted field is not closed before the end of the file");
        } else if (record.fields.length !== columns) {
          refuse(record, `the row has ${record.fields.length} fields; the header has ${columns}`);
        } else {
          record.encoded = encode(record);
          const size = bytes(record.encoded) + 1;
          if (headerBytes + size > maxBytes) {
            refuse(record, `the row is larger than a request may be (${maxBytes} bytes with the header)`);
            continue;
          }
          if (page.length >= maxRows || pageBytes + size > maxBytes) await flush();
          page.push(record);
          pageBytes += size;
        }
      }
      await flush();
      if (!read) throw new Error("the file has a header row but no data rows");
    } catch (error) {
      if (error instanceof Stopped || job !== state.job) return;
      stopped = error;
    } finally {
      if (job === state.job) {
        state.scoring = false;
        $("score").removeAttribute("aria-disabled");
      }
    }
    if (stopped !== null && !(stopped instanceof PageError && (scored.length || refusedRows.size))) {
      $("csv-error").textContent = `The file cannot be scored: ${stopped.message}`;
      return;
    }
    showScored(card, header, delimiter, scored, refusedRows, file.name, rawLines);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const problems = [...refusedRows.values()].reduce((sum, list) => sum + list.length, 0);
    const refused = `${refusedRows.size} refused (${problems} problem${problems === 1 ? "" : "s"})`;
    if (stopped !== null) {
      $("csv-error").textContent = `Scoring stopped at line ${stopped.line}: ${stopped.message}. Nothing from line ${stopped.line} on was scored.`;
      $("csv-status").textContent = `Stopped after ${seconds} s: before line ${stopped.line}, ${scored.length} rows scored and ${refused}.`;
    } else {
      $("csv-status").textContent = `Done in ${seconds} s: ${scored.length} of ${read} rows scored, ${refused}.`;
    }
  }

  // The scored CSV: each row as it was in the file, then its prediction (and for a
  // classifier one probability_<class> per class), in the file's own delimiter and line
  // ending.
  function blobUrl(text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    state.downloadUrls.push(url);
    return url;
  }

  function showScored(card, header, delimiter, scored, refusedRows, filename, rawLines) {
    // A probability column per class, unless the model answers labels only.
    const classes = card.probabilities === false ? [] : card.classes || [];
    const taken = new Set(header.fields.map((name) => name.trim()));
    const free = (name) => {
      let chosen = name;
      while (taken.has(chosen)) chosen = `${chosen}_scored`;
      taken.add(chosen);
      return chosen;
    };
    const outputHeader = [free("prediction"), ...classes.map((label) => free(`probability_${label}`))];
    const lines = [[header.raw, ...outputHeader.map((name) => csvField(name, delimiter))].join(delimiter)];
    for (const row of scored) {
      const extra = [row.prediction, ...classes.map((label) => (row.probabilities ? row.probabilities[label] : ""))];
      lines.push([row.record.raw, ...extra.map((value) => csvField(value, delimiter))].join(delimiter));
    }
    const newline = header.ending || "\n";
    const link = $("download");
    link.href = blobUrl(`${lines.join(newline)}${newline}`);
    const dot = filename.lastIndexOf(".");
    link.download = dot > 0 ? `${filename.slice(0, dot)}-scored${filename.slice(dot)}` : `${filename}-scored.csv`;
    link.textContent = `Download the scored file (${scored.length} rows)`;
    link.hidden = !scored.length;

    // Every problem of every refused row: the first SHOWN_ROWS in the table, all of them
    // (with the row as it was) in a download of their own.
    const refusedBody = clear($("refused").tBodies[0]);
    const lineNumbers = [...refusedRows.keys()].sort((a, b) => a - b);
    const refusedLines = [["line", "column", "reason", "row"].join(",")];
    let shown = 0;
    for (const line of lineNumbers) {
      for (const problem of refusedRows.get(line)) {
        const column = problem.column === null || problem.column === undefined ? "" : problem.column;
        refusedLines.push([line, column, problem.reason, rawLines.get(line) || ""].map((value) => csvField(value)).join(","));
        if (shown >= SHOWN_ROWS) continue;
        shown += 1;
        refusedBody.append(el("tr", { className: "refused" }, el("td", { className: "num" }, line), el("td", {}, column || "(row)"), el("td", {}, problem.reason)));
      }
    }
    const listed = refusedLines.length - 1;
    $("refused-title").textContent = `Rows refused (${refusedRows.size})`;
    $("refused-note").textContent = listed > shown ? `The first ${shown} of ${listed} problems; the download has them all.` : "";
    $("refused-box").hidden = !refusedRows.size;
    const refusedLink = $("refused-download");
    refusedLink.href = blobUrl(`${refusedLines.join("\n")}\n`);
    refusedLink.download = dot > 0 ? `${filename.slice(0, dot)}-refused.csv` : `${filename}-refused.csv`;
    refusedLink.textContent = `Download the refused rows with their reasons (${refusedRows.size} rows)`;
    refusedLink.hidden = !refusedRows.size;

    const table = $("scored");
    const head = clear(table.tHead);
    head.append(el("tr", {}, el("th", { scope: "col", className: "num" }, "Line"), ...header.fields.map((name) => el("th", { scope: "col" }, name)), ...outputHeader.map((name) => el("th", { scope: "col" }, name))));
    const body = clear(table.tBodies[0]);
    for (const row of scored.slice(0, SHOWN_ROWS)) {
      const probabilities = classes.map((label) => (row.probabilities ? formatNumber(row.probabilities[label], 3) : ""));
      body.append(
        el(
          "tr",
          {},
          el("td", { className: "num" }, row.record.line),
          ...row.record.fields.map((value) => el("td", {}, value)),
          el("td", {}, typeof row.prediction === "number" ? formatNumber(row.prediction) : row.prediction),
          ...probabilities.map((value) => el("td", { className: "num" }, value)),
        ),
      );
    }
    $("scored-note").textContent = scored.length > SHOWN_ROWS ? `The first ${SHOWN_ROWS} of ${scored.length} scored rows; the download has them all.` : `${scored.length} scored rows.`;
    $("scored-box").hidden = !scored.length;
  }

  // ----- start ------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("form").addEventListener("submit", predictOne);
    $("score").addEventListener("click", scoreFile);
    $("csv").addEventListener("change", () => resetCsv("another file was chosen"));
    // Editing a field takes away the answer (and that field's error): they no longer match.
    $("fields").addEventListener("input", (event) => {
      cancelPrediction();
      $("prediction").textContent = "";
      clear($("probabilities"));
      const entry = state.inputs.get(event.target.name);
      if (entry) {
        entry.input.removeAttribute("aria-invalid");
        entry.error.textContent = "";
      }
    });
    $("medians").addEventListener("click", fillMedians);
    bindDrawing();
    loadModels();
  });
})();
