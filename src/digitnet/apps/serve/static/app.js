// digitnet's page: draw (pointer events: mouse, pen, touch) or photograph digits, read them
// live through the JSON API, watch every layer of the network as you draw, teach it your
// handwriting, watch a small network learn. Plain JavaScript, no build step, nothing fetched
// from elsewhere. Every request has a timeout; every failure shows one line and a Retry.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
const answer = $("answer");
const BRUSH = pad.width / 14;          // MNIST's strokes are about 1/14 of the digit box
const strokes = [];                    // each a list of [x, y] in canvas pixels
let current = null;                    // the stroke being drawn
const state = {
  which: ["personal", "trained"].includes(localStorage.getItem("digitnet-model"))
    ? localStorage.getItem("digitnet-model") : "base",
  reading: null,                       // the latest reading of the drawing
  selected: 0,                         // which of its digits the bars and the inside show
  keeping: true,                       // does this server keep samples
  samples: null,                       // this browser's samples summary
  style: ["continental", "american"].includes(localStorage.getItem("digitnet-style"))
    ? localStorage.getItem("digitnet-style") : "auto",
};
const api = (path, model = state.which) =>
  (model === "base" ? path : `${path}${path.includes("?") ? "&" : "?"}model=${model}`);

const readPath = () => api(state.style === "auto" ? "/api/read" : `/api/read?style=${state.style}`);
$("style").value = state.style;
$("style").addEventListener("change", (e) => {
  state.style = e.target.value;
  localStorage.setItem("digitnet-style", state.style);
  readNow();
  if (photoFile) readPhoto();
});

// -- requests: a timeout each, errors with a stable code ----------------------------------

class ApiError extends Error {
  constructor(code, detail, status = 0, body = null) {
    super(detail);
    this.code = code;
    this.status = status;
    this.body = body;
  }
}

const firstLine = (text) => String(text || "").split("\n")[0].slice(0, 200);

async function request(path, { method = "GET", body, json, headers = {}, timeout = 15000 } = {}) {
  const control = new AbortController();
  const timer = setTimeout(() => control.abort(), timeout);
  try {
    if (json !== undefined) {
      headers = { ...headers, "Content-Type": "application/json" };
      body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, { method, body, headers, signal: control.signal });
    } catch (e) {
      throw control.signal.aborted
        ? new ApiError("timeout", `no answer in ${timeout / 1000} s`)
        : new ApiError("network", "cannot reach the server");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      if (control.signal.aborted) throw new ApiError("timeout", `no answer in ${timeout / 1000} s`);
    }
    if (!response.ok) {
      throw new ApiError((data && data.code) || `http_${response.status}`,
        firstLine(data && data.detail) || `the server answered ${response.status}`,
        response.status, data);
    }
    if (data === null) throw new ApiError("bad_answer", "the server's answer was not understood");
    return data;
  } finally {
    clearTimeout(timer);
  }
}

// What the page says for an error: chosen by its code, the server's one line otherwise.
const MESSAGES = {
  network: "Cannot reach the server: check the connection.",
  timeout: "The server did not answer in time.",
  bad_answer: "The server's answer was not understood.",
  too_large: (e) => `That file is too large for this server (at most ${
    e.body && e.body.limit ? Math.round(e.body.limit / 1e6) : "a few"} MB).`,
  upload_stalled: "The upload stalled: try again.",
  no_personal_model: "You have no personal model yet: keep a few samples, then Adapt.",
  no_trained_model: "Nothing trained on this page yet: press Train first.",
  no_mnist: "This server has no MNIST files, so it cannot do that.",
  samples_off: "This server keeps no samples.",
};

function describeError(e) {
  const known = MESSAGES[e.code];
  if (typeof known === "function") return known(e);
  if (known) return known;
  if (/^http_5/.test(e.code)) return `The server failed (${e.status}).`;
  const text = firstLine(e.message) || "Something went wrong.";
  return text[0].toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
}

// One status line per part of the page: a message, or an error with its Retry button.
function showStatus(el, text, { retry = null, kind = "info" } = {}) {
  el.replaceChildren();
  el.dataset.kind = kind;
  if (!text) return;
  const span = document.createElement("span");
  span.textContent = text;
  el.appendChild(span);
  if (retry) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "retry";
    b.textContent = "Retry";
    b.addEventListener("click", () => { showStatus(el, ""); retry(); });
    el.appendChild(b);
  }
}
const showError = (el, e, retry = null) => showStatus(el, describeError(e), { retry, kind: "error" });
const clearStatus = (...els) => els.forEach((el) => showStatus(el, ""));

// -- drawing ------------------------------------------------------------------------------

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#111";
  ctx.fillStyle = "#111";
  ctx.lineWidth = BRUSH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    if (s.length === 1) {
      ctx.beginPath();
      ctx.arc(s[0][0], s[0][1], BRUSH / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

function at(event) {
  const r = pad.getBoundingClientRect();
  return [(event.clientX - r.left) * pad.width / r.width,
          (event.clientY - r.top) * pad.height / r.height];
}

function drawingChanged() {            // a new state of the drawing: old messages go
  clearStatus($("kept"));
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  current = [at(e)];
  strokes.push(current);
  drawingChanged();
  redraw();
  readSoon();
});
pad.addEventListener("pointermove", (e) => {
  if (!current) return;
  e.preventDefault();
  current.push(at(e));
  redraw();
  readSoon();
});
function endStroke() {
  if (!current) return;
  current = null;
  readNow();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function clearPad() {
  strokes.length = 0;
  current = null;
  drawingChanged();
  redraw();
  readNow();
}
function undo() {
  strokes.pop();
  drawingChanged();
  redraw();
  readNow();
}
$("clear").addEventListener("click", clearPad);
$("undo").addEventListener("click", undo);
const isField = (el) => el && ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName);
document.addEventListener("keydown", (e) => {
  if (isField(e.target)) return;        // Esc in a select closes it; it clears nothing
  if (e.key === "Escape") { e.preventDefault(); clearPad(); }
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); }
});
pad.addEventListener("keydown", (e) => {  // the canvas from the keyboard
  if (/^[0-9]$/.test(e.key) && !e.ctrlKey && !e.metaKey) { e.preventDefault(); drawExample(e.key); }
  if (e.key === "Enter") { e.preventDefault(); readNow(); }
});

// Example digits, drawn as strokes on a 28x28 grid (for people who cannot draw here).
const EXAMPLES = {
  0: [[[14, 4], [9, 7], [8, 14], [9, 21], [14, 24], [19, 21], [20, 14], [19, 7], [14, 4]]],
  1: [[[11, 8], [15, 4], [14, 24]]],
  2: [[[8, 9], [10, 6], [14, 5], [18, 6], [19, 9], [17, 13], [8, 22], [20, 22]]],
  3: [[[8, 6], [14, 4], [18, 7], [17, 11], [12, 13], [18, 15], [19, 19], [15, 23], [8, 22]]],
  4: [[[16, 4], [7, 17], [21, 17]], [[17, 9], [17, 24]]],
  5: [[[19, 5], [10, 5], [9, 13], [15, 12], [19, 15], [19, 20], [15, 23], [8, 21]]],
  6: [[[18, 5], [12, 8], [9, 14], [9, 20], [13, 23], [18, 21], [19, 16], [14, 13], [9, 16]]],
  7: [[[7, 5], [20, 5], [12, 24]]],
  8: [[[14, 13], [10, 10], [10, 6], [14, 4], [18, 6], [18, 10], [14, 13], [9, 17], [10, 22],
       [14, 24], [18, 22], [19, 17], [14, 13]]],
  9: [[[19, 9], [15, 13], [10, 11], [10, 6], [14, 4], [18, 5], [19, 9], [18, 24]]],
};
function drawExample(digit) {
  strokes.length = 0;
  const k = pad.width / 28;
  for (const line of EXAMPLES[digit]) strokes.push(line.map(([x, y]) => [x * k, y * k]));
  drawingChanged();
  redraw();
  readNow();
}
for (const digit of Object.keys(EXAMPLES)) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = digit;
  b.setAttribute("aria-label", `Draw an example ${digit}`);
  b.addEventListener("click", () => drawExample(digit));
  $("examples").appendChild(b);
}

// -- reading the drawing ---------------------------------------------------------------------

let busy = false, again = false, timer = null;
// for tests and tools: how many requests are pending (0 once the page shows the latest)
window.fetchesInFlight = () => (busy ? 1 : 0) + (again ? 1 : 0) + (timer ? 1 : 0) +
  inside.pending();

function readSoon() {                 // while drawing: at most one request every 120 ms
  if (timer) return;
  timer = setTimeout(() => { timer = null; readNow(); }, 120);
}

async function readNow() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    await readDrawing();
  } finally {
    busy = false;
    if (again) { again = false; readNow(); }
  }
}

async function readDrawing() {
  if (!strokes.length) { showEmpty(); return; }
  const blob = await new Promise((ok) => pad.toBlob(ok, "image/png"));
  const form = new FormData();
  form.append("image", blob, "drawing.png");
  let result;
  try {
    result = await request(readPath(), { method: "POST", body: form });
  } catch (e) {
    if (!strokes.length) { showEmpty(); return; }
    if (e.code === "bad_image") { showEmpty("Draw a bigger digit"); return; }   // no ink
    if (e.code === "no_personal_model" || e.code === "no_trained_model") useModel("base");
    answer.dataset.state = "error";
    answer.textContent = "Not read";
    showError($("read-status"), e, readNow);
    return;
  }
  if (!strokes.length || result.code === "blank") { showEmpty(); return; }
  clearStatus($("read-status"));
  state.reading = result;
  if (state.selected >= result.digits.length) state.selected = 0;
  // the words change only once the pen is up and nothing newer is coming: no flicker
  const settled = !current && !again && !timer;
  showReading(result, settled);
}

function showEmpty(text = "Draw a digit") {
  state.reading = null;
  state.selected = 0;
  answer.textContent = text;
  answer.dataset.state = "empty";
  delete answer.dataset.number;
  clearStatus($("read-status"));
  drawBars($("bars"), null);
  $("inputs").replaceChildren();
  $("correct").hidden = true;
  $("which-digit").hidden = true;
  inside.clear();
}

const pct = (p, digits = 1) => `${(100 * p).toFixed(digits)}%`;
const article = (d) => (String(d) === "8" ? "an" : "a");

function describeReading(result) {
  if (result.number === null) {
    if (result.code === "blank") return "No ink found: nothing to read";
    const bad = result.digits.map((d, i) => (d.digit === null ? i + 1 : 0)).filter(Boolean);
    if (result.digits.length <= 1) return "That doesn't look like a digit";
    return `${bad.length > 1 ? "Marks" : "Mark"} ${bad.join(", ")} of ${result.digits.length} ` +
      `${bad.length > 1 ? "don't" : "doesn't"} look like a digit`;
  }
  const d = result.digits;
  if (d.length === 1) {
    const [a, b] = d[0].top;
    return d[0].sure ? `It's ${article(a.digit)} ${a.digit} (${pct(a.confidence)})`
      : `Not sure: ${a.digit} (${pct(a.confidence)}) or ${b.digit} (${pct(b.confidence)})`;
  }
  const text = `It reads ${result.number} (confidence ${pct(result.confidence)})`;
  return result.sure ? text : `${text}, not sure of every digit`;
}

function showReading(result, settled) {
  if (settled) {
    answer.textContent = describeReading(result);
    answer.dataset.state = result.number === null ? "not-digit" : result.sure ? "sure" : "unsure";
    if (result.number === null) delete answer.dataset.number;
    else answer.dataset.number = result.number;
  } else {
    answer.dataset.drawing = "";
  }
  if (settled) delete answer.dataset.drawing;
  const digit = result.digits[state.selected] || null;
  // "Wrong? It is a ...": the network's second guess is the likeliest correction
  if (settled && digit && document.activeElement !== $("truth")) {
    $("truth").value = String(digit.top[digit.digit === null ? 0 : 1].digit);
  }
  drawBars($("bars"), digit);
  $("inputs").replaceChildren(...result.digits.map((d, i) => digitFigure(d, i)));
  $("correct").hidden = !state.keeping || !result.digits.length;
  $("truth-label").textContent = result.digits.length > 1
    ? `Wrong? Digit ${state.selected + 1} is a` : "Wrong? It is a";
  $("which-digit").hidden = result.digits.length < 2;
  $("which-digit").textContent = `The bars and the layers show digit ${state.selected + 1} ` +
    `of ${result.digits.length}: click another to see it.`;
  if (digit) inside.show(digit.input);
}

function drawBars(box, digit) {          // always ten rows: the layout never jumps
  const rows = box.children.length === 10 ? [...box.children] : null;
  if (!rows) {
    box.replaceChildren();
    for (let k = 0; k < 10; k++) {
      const li = document.createElement("li");
      li.innerHTML = `<span class="label">${k}</span><span class="track"><span class="bar" ` +
        `aria-hidden="true"></span></span><span class="value"></span>`;
      box.appendChild(li);
    }
  }
  box.dataset.empty = digit ? "false" : "true";
  [...box.children].forEach((li, k) => {
    const p = digit ? digit.probabilities[k] : 0;
    li.className = digit && k === digit.top[0].digit && digit.digit !== null ? "best" : "";
    li.querySelector(".bar").style.width = `${Math.max(0.5, 100 * p)}%`;
    li.querySelector(".value").textContent = digit ? pct(p) : "";
    li.setAttribute("aria-label", digit ? `${k}: ${pct(p)}` : `${k}`);
  });
}

function inputCanvas(input, label) {
  const c = document.createElement("canvas");
  c.width = 28; c.height = 28;
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", label);
  const g = c.getContext("2d");
  const img = g.createImageData(28, 28);
  input.flat().forEach((v, i) => img.data.set([v, v, v, 255], 4 * i));
  g.putImageData(img, 0, 0);
  return c;
}

function digitFigure(d, i) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "digit-figure";
  b.setAttribute("aria-pressed", String(i === state.selected));
  const what = d.digit === null ? "not a digit" : `${d.digit} (${pct(d.confidence)})`;
  b.append(inputCanvas(d.input, `The 28x28 input the network sees, read as ${what}`));
  const caption = document.createElement("span");
  caption.textContent = what;
  b.append(caption);
  b.addEventListener("click", () => {
    state.selected = i;
    if (state.reading) showReading(state.reading, true);
  });
  return b;
}

// -- the network, live: every layer's maps as you draw -----------------------------------------

// One colour map for every picture (activations and weights): 0 is dark, positive values go
// through orange to pale yellow, negative ones through blue to pale blue.
const POS = [[17, 17, 17], [214, 96, 0], [255, 233, 140]];
const NEG = [[17, 17, 17], [30, 100, 190], [175, 215, 255]];
function colourOf(t) {                 // t in [-1, 1]
  const ramp = t < 0 ? NEG : POS;
  const a = Math.min(1, Math.abs(t)) * 2;
  const [lo, hi] = a <= 1 ? [ramp[0], ramp[1]] : [ramp[1], ramp[2]];
  const f = a <= 1 ? a : a - 1;
  return lo.map((v, k) => Math.round(v + (hi[k] - v) * f));
}
const decode = (layer) => Uint8Array.from(atob(layer.data), (c) => c.charCodeAt(0));
const valueOf = (layer, q) => ((q - 128) / 127) * layer.scale;

// A stack of maps (h, w, k) drawn side by side on one canvas, one pixel apart, each value
// coloured on the scale [-range, range]; returns the canvas and how to find a map's pixel.
function mapsCanvas(layer, bytes, range, { columns = null, zoom = null, cell = 18, width = 640 } = {}) {
  const [h, w, k] = layer.shape.length === 3 ? layer.shape
    : layer.shape.length === 2 ? [...layer.shape, 1] : [1, 1, layer.shape[0]];
  const vector = layer.shape.length === 1;
  const z = zoom || (vector ? 7 : Math.max(1, Math.round(cell / w)));
  // as many maps to a row as fit (32, 16 or 8): fewer rows, the whole network in one view
  const fits = (n) => n * (w + 1) * z - z <= width;
  const cols = columns || (vector ? Math.min(32, k)
    : Math.min(k, [32, 16, 8].find(fits) || 8));
  const rows = Math.ceil(k / cols);
  const c = document.createElement("canvas");
  const gap = vector ? 0 : 1;
  c.width = cols * (w + gap) - gap;
  c.height = rows * (h + gap) - gap;
  const g = c.getContext("2d");
  const img = g.createImageData(c.width, c.height);
  img.data.fill(255);
  const scale = range > 0 ? layer.scale / range : 0;
  for (let m = 0; m < k; m++) {
    const ox = (m % cols) * (w + gap), oy = Math.floor(m / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const q = bytes[(y * w + x) * k + m];
        const rgb = colourOf(((q - 128) / 127) * scale);
        img.data.set([...rgb, 255], 4 * ((oy + y) * c.width + ox + x));
      }
    }
  }
  g.putImageData(img, 0, 0);
  c.style.width = `${c.width * z}px`;
  c.className = "maps";
  // the map and position under a point of the canvas (CSS pixels), or null in a gap
  const locate = (px, py) => {
    const shown = c.getBoundingClientRect().width / c.width || z;
    const x = Math.floor(px / shown), y = Math.floor(py / shown);
    const col = Math.floor(x / (w + gap)), row = Math.floor(y / (h + gap));
    const mx = x - col * (w + gap), my = y - row * (h + gap);
    const m = row * cols + col;
    if (mx >= w || my >= h || m >= k || col >= cols) return null;
    return { map: m, x: mx, y: my, value: valueOf(layer, bytes[(my * w + mx) * k + m]) };
  };
  return { canvas: c, locate };
}

const inside = (() => {
  let wanted = null, sent = null, inflight = false, lastBody = null, filtersDrawn = null;
  const layersBox = $("layers");
  const tip = $("tooltip");

  function pending() { return (inflight ? 1 : 0) + (wanted && wanted !== sent ? 1 : 0); }

  function show(input) {
    wanted = input;
    if (!inflight) fetchNext();
  }

  async function fetchNext() {
    if (!wanted || wanted === sent) return;
    inflight = true;
    const input = (sent = wanted);
    const every = $("every-layer").checked ? "?detail=all" : "";
    try {
      const body = await request(api(`/api/inside${every}`), {
        method: "POST", json: { pixels: input }, timeout: 10000 });
      if (wanted === input) { lastBody = { body, input }; render(); }
      clearStatus($("inside-status"));
    } catch (e) {
      showError($("inside-status"), e, () => { sent = null; show(wanted); });
    } finally {
      inflight = false;
      if (wanted && wanted !== sent) fetchNext();
    }
  }

  function clear() {
    wanted = sent = null;
    lastBody = null;
    layersBox.replaceChildren();
    $("feeds").hidden = true;
    $("inside-empty").hidden = false;
    clearStatus($("inside-status"));
  }

  function range(layers) {
    return Math.max(...layers.filter((l) => l.index >= 0).map((l) => l.scale), 1e-6);
  }

  function render() {
    if (!lastBody) return;
    const { body, input } = lastBody;
    const shared = $("shared-scale").checked ? range(body.layers) : null;
    $("inside-empty").hidden = true;
    const rows = body.layers.map((layer) => {
      const row = document.createElement("figure");
      row.className = "layer";
      row.dataset.index = layer.index;
      const caption = document.createElement("figcaption");
      const dims = layer.shape.join("x");
      const scale = shared || layer.scale;
      caption.innerHTML = "";
      caption.append(`${layer.name} `, Object.assign(document.createElement("span"), {
        className: "dims", textContent: `${dims} · ${legendText(scale)}` }));
      row.append(caption);
      if (layer.index >= 0 && layer.shape.length === 1 && layer.shape[0] === 10) {
        row.append(outputs(layer, body.probabilities, scale, input));
        return row;
      }
      const bytes = decode(layer);
      const { canvas, locate } = mapsCanvas(layer, bytes, scale,
        layer.index < 0 ? { zoom: 3 } : { width: Math.max(240, layersBox.clientWidth - 4) });
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${layer.name}: ${dims}`);
      canvas.addEventListener("mousemove", (e) => {
        const spot = locate(e.offsetX, e.offsetY);
        if (!spot) { tip.hidden = true; return; }
        const where = layer.shape.length === 1 ? `unit ${spot.map}`
          : layer.shape.length === 2 ? `pixel (${spot.x}, ${spot.y})`
            : `map ${spot.map}, (${spot.x}, ${spot.y})`;
        tooltip(e, `${where}: ${spot.value.toFixed(3)}`);
      });
      canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
      if (layer.index >= 0) {
        canvas.classList.add("clickable");
        canvas.addEventListener("click", (e) => {
          const spot = locate(e.offsetX, e.offsetY);
          if (spot) feeds(layer, spot.map, input);
        });
      }
      row.append(canvas);
      return row;
    });
    layersBox.replaceChildren(...rows);
    legend(shared);
  }

  function outputs(layer, probabilities, scale, input) {
    const bytes = decode(layer);
    const list = document.createElement("ol");
    list.className = "outputs";
    list.setAttribute("aria-label", "The ten outputs");
    for (let k = 0; k < 10; k++) {
      const v = valueOf(layer, bytes[k]);
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.title = `output ${k}: ${v.toFixed(3)} (probability ${pct(probabilities[k])}); click: what feeds it`;
      b.style.background = `rgb(${colourOf(v / scale).join(",")})`;
      b.style.color = Math.abs(v / scale) > 0.5 ? "#111" : "#fff";
      b.textContent = k;
      b.setAttribute("aria-label", `Output ${k}: ${pct(probabilities[k])}; what feeds it`);
      b.addEventListener("click", () => feeds(layer, k, input));
      const p = document.createElement("span");
      p.textContent = pct(probabilities[k], 0);
      li.append(b, p);
      list.append(li);
    }
    return list;
  }

  function tooltip(e, text) {
    tip.textContent = text;
    tip.hidden = false;
    const box = $("layers").closest("section").getBoundingClientRect();
    tip.style.left = `${e.clientX - box.left + 12}px`;
    tip.style.top = `${e.clientY - box.top + 12}px`;
  }

  const legendText = (scale) => `−${fmt(scale)} … 0 … ${fmt(scale)}`;
  const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));

  function legend(shared) {
    const box = $("legend");
    const c = document.createElement("canvas");
    c.width = 200; c.height = 1;
    const g = c.getContext("2d");
    const img = g.createImageData(200, 1);
    for (let x = 0; x < 200; x++) img.data.set([...colourOf(x / 99.5 - 1), 255], 4 * x);
    g.putImageData(img, 0, 0);
    const label = (t) => Object.assign(document.createElement("span"), { textContent: t });
    box.replaceChildren(label(shared ? `−${fmt(shared)}` : "−max"), c,
      label(shared ? `+${fmt(shared)}` : "+max of each layer"));
  }

  // What feeds a map or unit: its weights, and how much each input adds for this drawing.
  async function feeds(layer, unit, input) {
    const box = $("feeds");
    box.hidden = false;
    box.replaceChildren(Object.assign(document.createElement("p"), {
      className: "hint", textContent: `What feeds ${layer.shape.length === 1 ? "unit" : "map"} ${unit}...` }));
    let f;
    try {
      f = await request(api("/api/inside/feeds"), {
        method: "POST", json: { pixels: input, layer: layer.index, unit }, timeout: 10000 });
    } catch (e) {
      const line = document.createElement("div");
      line.className = "status";
      box.replaceChildren(line);
      showError(line, e, () => feeds(layer, unit, input));
      return;
    }
    const head = document.createElement("h3");
    const close = Object.assign(document.createElement("button"), {
      type: "button", textContent: "Close", className: "close" });
    close.addEventListener("click", () => { box.hidden = true; });
    const what = layer.shape.length === 3 ? `Map ${unit}` : `Unit ${unit}`;
    head.textContent = `${what} of ${layer.name}`;
    const parts = [head];
    const say = (t) => parts.push(Object.assign(document.createElement("p"), { textContent: t }));
    if (f.kind === "pool") {
      say(`Each value is the largest of a small window of map ${unit} of ${f.source_name}: ` +
        "pooling has no weights.");
    } else {
      const w = f.weights, cshape = f.contributions.shape;
      const contrib = decode(f.contributions);
      const values = [...contrib].map((q) => valueOf(f.contributions, q));
      const perMap = w.shape.length === 3 && cshape.length === 1;
      say(`${f.kind === "conv" ? "A convolution" : "A weighted sum"} of ${f.source_name}` +
        `${f.source < 0 ? "" : `'s ${cshape.reduce((a, b) => a * b, 1)} ${perMap ? "maps" : "values"}`}` +
        `${f.bias ? ` plus a bias of ${f.bias.toFixed(3)}` : ""}. ` +
        (perMap ? "The inputs that add the most (weights coloured on their own scale):"
          : "Its weights, and each input times its weight:"));
      const wb = decode(w);
      if (perMap) {
        const order = values.map((v, i) => [v, i]).sort((a, b) => Math.abs(b[0]) - Math.abs(a[0]));
        const grid = document.createElement("div");
        grid.className = "feed-grid";
        const [n, kh, kw] = f.kind === "conv" ? w.shape : [w.shape[2], w.shape[0], w.shape[1]];
        for (const [v, i] of order.slice(0, 12)) {
          const kernel = { shape: [kh, kw], scale: w.scale };
          const bytes = new Uint8Array(kh * kw);
          for (let p = 0; p < kh * kw; p++) {
            bytes[p] = f.kind === "conv" ? wb[i * kh * kw + p] : wb[p * n + i];
          }
          const { canvas } = mapsCanvas(kernel, bytes, w.scale, { zoom: Math.max(4, Math.floor(48 / kw)) });
          const fig = document.createElement("figure");
          fig.append(canvas, Object.assign(document.createElement("figcaption"), {
            textContent: `map ${i}: ${v >= 0 ? "+" : ""}${v.toFixed(2)}` }));
          grid.append(fig);
        }
        parts.push(grid);
      } else {
        const row = document.createElement("div");
        row.className = "feed-grid";
        const weights = mapsCanvas(w, wb, w.scale, { zoom: w.shape.length === 1 ? 9 : 4 });
        const times = mapsCanvas(f.contributions, contrib, f.contributions.scale,
          { zoom: w.shape.length === 1 ? 9 : 4 });
        for (const [t, m] of [["weights", weights], ["input × weight", times]]) {
          const fig = document.createElement("figure");
          fig.append(m.canvas, Object.assign(document.createElement("figcaption"), { textContent: t }));
          row.append(fig);
        }
        parts.push(row);
        if (cshape.length === 1) {
          const top = values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
          say("Adds the most: " + top.map(([v, i]) => `unit ${i} (${v >= 0 ? "+" : ""}${v.toFixed(2)})`).join(", ") + ".");
        }
      }
    }
    parts.push(close);
    box.replaceChildren(...parts);
  }

  async function drawFilters() {
    try {
      const body = await request(api("/api/model/filters"), { timeout: 10000 });
      if (!body.filters) { $("filters-box").hidden = true; return; }
      $("filters-box").hidden = false;
      filtersCanvas($("filters"), body.filters, body.kind);
      $("filters-box").querySelector("summary").textContent =
        `First layer's filters (its weights): ${body.name}` + (body.count > body.filters.shape[2]
          ? `, the first ${body.filters.shape[2]} of ${body.count}` : "");
      filtersDrawn = state.which;
    } catch (e) {
      showError($("inside-status"), e, drawFilters);
    }
  }

  $("every-layer").addEventListener("change", () => { sent = null; if (wanted) show(wanted); });
  $("shared-scale").addEventListener("change", render);
  window.addEventListener("resize", () => { clearTimeout(render.t); render.t = setTimeout(render, 200); });
  return { show, clear, pending, drawFilters, filtersModel: () => filtersDrawn };
})();

// Filters (h, w, K) into an existing canvas, one scale for all, hover for values.
function filtersCanvas(target, filters, kind) {
  target.hidden = false;
  const bytes = decode(filters);
  const cols = kind === "conv" ? 16 : 8;
  const { canvas, locate } = mapsCanvas(filters, bytes, filters.scale, {
    columns: Math.min(cols, filters.shape[2]), zoom: kind === "conv" ? 6 : 2 });
  target.width = canvas.width;
  target.height = canvas.height;
  target.style.width = canvas.style.width;
  target.getContext("2d").drawImage(canvas, 0, 0);
  target.onmousemove = (e) => {
    const spot = locate(e.offsetX, e.offsetY);
    target.title = spot ? `filter ${spot.map}, (${spot.x}, ${spot.y}): weight ${spot.value.toFixed(3)}` : "";
  };
}

// -- keeping samples, adapting, and which model reads -----------------------------------------

function renderToPng(input) {           // a 28x28 input as a 280x280 drawing: ink dark on white
  const c = document.createElement("canvas");
  c.width = 280; c.height = 280;
  const g = c.getContext("2d");
  const small = inputCanvas(input.map((row) => row.map((v) => 255 - v)), "");
  g.imageSmoothingEnabled = true;
  g.drawImage(small, 0, 0, 280, 280);
  return new Promise((ok) => c.toBlob(ok, "image/png"));
}

async function keepSample(blob, digit, statusEl) {
  const form = new FormData();
  form.append("image", blob, "sample.png");
  form.append("digit", digit);
  try {
    const body = await request("/api/samples", { method: "POST", body: form });
    showStatus(statusEl, `Kept as ${article(digit)} ${digit}: ${body.counts[digit]} of this ` +
      `digit, ${body.total} in all.` + (body.total >= 3 ? " Adapt when you have kept a few." : ""));
    loadSamples();
  } catch (e) {
    showError(statusEl, e, () => keepSample(blob, digit, statusEl));
  }
}

$("correct").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!strokes.length || !state.reading) return;
  // one digit: the drawing as drawn; several: the chosen one, as the network sees it
  const digits = state.reading.digits;
  const blob = digits.length > 1 ? await renderToPng(digits[state.selected].input)
    : await new Promise((ok) => pad.toBlob(ok, "image/png"));
  keepSample(blob, $("truth").value, $("kept"));
});

async function loadSamples() {
  let body;
  try {
    body = await request("/api/samples");
  } catch (e) {
    showError($("adapt-status"), e, loadSamples);
    return;
  }
  state.samples = body;
  state.keeping = body.keeping;
  $("samples-off").hidden = body.keeping;
  $("samples-on").hidden = !body.keeping;
  if (!body.keeping) $("correct").hidden = true;
  $("samples-summary").textContent = body.total
    ? `You keep ${body.total} sample${body.total === 1 ? "" : "s"} (at most ${body.limit}): ` +
      body.counts.map((n, d) => (n ? `${n} × ${d}` : "")).filter(Boolean).join(", ") +
      ". Only this browser sees them."
    : "Nothing you draw is stored unless you press \"Keep as a sample\"; your samples and " +
      "your model are this browser's alone.";
  const list = $("sample-list");
  list.replaceChildren(...body.samples.slice(-60).reverse().map((s) => {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = `/api/samples/${s.id}.png`;
    img.alt = `Sample ${s.id}: ${article(s.digit)} ${s.digit}`;
    img.loading = "lazy";
    const label = Object.assign(document.createElement("span"), { textContent: s.digit });
    const del = Object.assign(document.createElement("button"), { type: "button", textContent: "×" });
    del.setAttribute("aria-label", `Delete sample ${s.id} (${article(s.digit)} ${s.digit})`);
    del.addEventListener("click", () => deleteSamples(`/api/samples/${s.id}`));
    li.append(img, label, del);
    return li;
  }));
  $("adapt").disabled = body.total === 0 || adapting;
  $("sample-buttons").hidden = body.total === 0 && !body.personal_model && !adapting;
  $("delete-all").disabled = body.total === 0 && !body.personal_model;
  enableModel("personal", body.personal_model);
}

async function deleteSamples(path) {
  try {
    const body = await request(path, { method: "DELETE" });
    showStatus($("adapt-status"), `Deleted ${body.deleted} sample${body.deleted === 1 ? "" : "s"}` +
      (path === "/api/samples" ? " and your personal model." : "."));
    if (!body.personal_model && state.which === "personal") useModel("base");
  } catch (e) {
    showError($("adapt-status"), e, () => deleteSamples(path));
  }
  loadSamples();
}
$("delete-all").addEventListener("click", () => deleteSamples("/api/samples"));

// Adapting: a stream of events on the request itself (queue position, then progress).
let adapting = false;
async function adapt() {
  adapting = true;
  $("adapt").disabled = true;
  const bar = $("adapt-progress");
  bar.hidden = false;
  bar.removeAttribute("value");        // indeterminate until the first progress event
  showStatus($("adapt-status"), "Starting...");
  const control = new AbortController();
  let watchdog;
  const arm = () => { clearTimeout(watchdog); watchdog = setTimeout(() => control.abort(), 20000); };
  let last = null;
  try {
    arm();
    let response;
    try {
      response = await fetch("/api/adapt", { method: "POST", signal: control.signal,
        headers: { Accept: "text/event-stream" } });
    } catch (e) {
      throw control.signal.aborted ? new ApiError("timeout", "no answer in 20 s")
        : new ApiError("network", "cannot reach the server");
    }
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch (e) { /* not JSON: a proxy's page */ }
      throw new ApiError((data && data.code) || `http_${response.status}`,
        firstLine(data && data.detail) || `the server answered ${response.status}`, response.status, data);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw control.signal.aborted ? new ApiError("timeout", "no news from the server for 20 s")
          : new ApiError("network", "the connection was lost");
      }
      if (chunk.done) break;
      arm();
      buffer += decoder.decode(chunk.value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of block.split("\n")) {
          if (line.startsWith("data: ")) { last = JSON.parse(line.slice(6)); adaptEvent(last); }
        }
      }
    }
    if (!last || !["done", "failed"].includes(last.state)) {
      throw new ApiError("network", "the server stopped answering before adapting ended");
    }
    if (last.state === "failed") throw new ApiError(last.code, last.detail);
  } catch (e) {
    showError($("adapt-status"), e, adapt);
  } finally {
    clearTimeout(watchdog);
    adapting = false;
    bar.hidden = true;
    loadSamples();
  }
}

function adaptEvent(e) {
  const bar = $("adapt-progress");
  if (e.state === "queued") {
    showStatus($("adapt-status"), e.position === 1 ? "Waiting: you are next."
      : `Waiting: ${e.position - 1} ${e.position === 2 ? "person is" : "people are"} ahead of you.`);
  } else if (e.state === "running") {
    if (e.total) { bar.max = e.total; bar.value = e.done; }
    showStatus($("adapt-status"), e.total ? `Adapting: ${Math.round(100 * e.done / e.total)}%`
      : "Adapting to your samples...");
  } else if (e.state === "done") {
    const m = e.model;
    const n = m.samples.reduce((a, b) => a + b, 0);
    const base = m.adapted.base_test_accuracy;
    showStatus($("adapt-status"), `Adapted to ${n} samples. MNIST test accuracy ` +
      `${pct(m.test_accuracy, 2)}` + (base == null ? "" : ` (base model ${pct(base, 2)})`) +
      ". Now reading with your model.");
    enableModel("personal", true);
    useModel("personal", { keepMessages: true });
  }
}
$("adapt").addEventListener("click", adapt);

function enableModel(name, on) {
  const radio = document.querySelector(`input[name="which"][value="${name}"]`);
  radio.disabled = !on;
  radio.closest("label").classList.toggle("disabled", !on);
}

function useModel(name, { keepMessages = false } = {}) {
  if (state.which !== name) {
    state.which = name;
    localStorage.setItem("digitnet-model", name);
    if (!keepMessages) clearStatus($("adapt-status"), $("kept"), $("train-status"));
  }
  document.querySelector(`input[name="which"][value="${name}"]`).checked = true;
  facts();
  inside.drawFilters();
  readNow();
}
$("which").addEventListener("change", (e) => useModel(e.target.value));

// -- photos: made smaller in the browser, read, each digit correctable ----------------------

const MAX_SIDE = 2000;                  // a 12 MP photo becomes ~3 MP: well under the limit
async function shrink(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    return { blob: file, url: URL.createObjectURL(file) };  // not decodable here: send as is
  }
  const k = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  if (k === 1 && file.size < 3e6) return { blob: file, url: URL.createObjectURL(file) };
  const c = document.createElement("canvas");
  c.width = Math.round(bitmap.width * k);
  c.height = Math.round(bitmap.height * k);
  c.getContext("2d").drawImage(bitmap, 0, 0, c.width, c.height);
  const blob = await new Promise((ok) => c.toBlob(ok, "image/jpeg", 0.9));
  return { blob, url: URL.createObjectURL(blob), from: [bitmap.width, bitmap.height] };
}

let photoFile = null;
$("file").addEventListener("change", (e) => {
  photoFile = e.target.files[0] || null;
  if (photoFile) readPhoto();
});

async function readPhoto() {
  const file = photoFile;
  $("photo").hidden = false;
  const where = $("photo-answer");
  where.textContent = "Reading...";
  where.dataset.state = "busy";
  delete where.dataset.number;
  clearStatus($("photo-status"));
  $("photo-view").replaceChildren();
  $("photo-digits").replaceChildren();
  $("photo").scrollIntoView({ block: "nearest" });
  const photo = await shrink(file);
  const form = new FormData();
  form.append("image", photo.blob, photo.from ? "photo.jpg" : file.name || "photo");
  let result;
  try {
    result = await request(readPath(), { method: "POST", body: form, timeout: 60000 });
  } catch (e) {
    where.textContent = "Not read";
    where.dataset.state = "error";
    showError($("photo-status"), e, e.code === "bad_image" ? null : readPhoto);
    return;
  }
  if (file !== photoFile) return;        // another photo was chosen meanwhile
  where.textContent = describeReading(result);
  where.dataset.state = result.number === null ? "not-digit" : result.sure ? "sure" : "unsure";
  if (result.number !== null) where.dataset.number = result.number;
  if (photo.from) {
    showStatus($("photo-status"), `Your ${photo.from[0]}x${photo.from[1]} photo was sent ` +
      `as ${result.width}x${result.height}.`);
  }
  showPhoto(photo.url, result);
}

function showPhoto(url, result) {
  const view = $("photo-view");
  const img = document.createElement("img");
  img.src = url;
  img.alt = `Your photo, read as ${result.number === null ? "no digit" : result.number}`;
  if (Math.max(result.width, result.height) < 200) {   // a tiny image: scaled up, pixels kept
    const k = Math.floor(200 / Math.max(result.width, result.height));
    img.style.width = `${result.width * k}px`;
    img.classList.add("pixelated");
  }
  view.replaceChildren(img);
  result.digits.forEach((d, i) => {
    const [l, t, r, b] = d.box;
    const box = document.createElement("div");
    box.className = "box";
    box.style.left = `${100 * l / result.width}%`;
    box.style.top = `${100 * t / result.height}%`;
    box.style.width = `${100 * (r - l) / result.width}%`;
    box.style.height = `${100 * (b - t) / result.height}%`;
    const label = document.createElement("span");
    label.textContent = d.digit === null ? "?" : d.digit;
    box.append(label);
    view.appendChild(box);
    $("photo-digits").appendChild(photoDigit(d, i));
  });
}

function photoDigit(d, i) {
  const card = document.createElement("div");
  card.className = "photo-digit";
  const what = d.digit === null ? "not a digit" : `${d.digit} (${pct(d.confidence)})`;
  const title = Object.assign(document.createElement("p"), { className: "what",
    textContent: `Digit ${i + 1}: ${what}` });
  const bars = document.createElement("ol");
  bars.className = "bars mini";
  bars.setAttribute("aria-label", `Probabilities of digit ${i + 1}`);
  drawBars(bars, d);
  const look = document.createElement("button");
  look.type = "button";
  look.className = "look";
  look.title = "Show this digit in the network's layers";
  look.setAttribute("aria-label", `Look inside the network at digit ${i + 1}`);
  look.append(inputCanvas(d.input, `Digit ${i + 1} as the network sees it: ${what}`));
  look.addEventListener("click", () => {
    inside.show(d.input);
    $("inside-title").scrollIntoView({ block: "start", behavior: "smooth" });
  });
  card.append(look, title, bars);
  if (state.keeping) {
    const form = document.createElement("form");
    form.className = "correct";
    const id = `photo-truth-${i}`;
    form.innerHTML = `<label for="${id}">It is a</label><select id="${id}">` +
      [...Array(10).keys()].map((k) => `<option${k === d.digit ? " selected" : ""}>${k}</option>`).join("") +
      `</select><button type="submit">Keep</button>`;
    const status = document.createElement("div");
    status.className = "status";
    status.setAttribute("role", "status");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      keepSample(await renderToPng(d.input), form.querySelector("select").value, status);
    });
    card.append(form, status);
  }
  return card;
}

// -- watch a network learn -------------------------------------------------------------------

const train = (() => {
  let run = null, source = null, epochs = [], total = 0, watchdog = null;

  async function start(e) {
    e.preventDefault();
    clearStatus($("train-status"));
    try {
      const body = await request("/api/train", { method: "POST", json: {
        preset: $("train-preset").value, digits: Number($("train-digits").value),
        epochs: Number($("train-epochs").value) } });
      follow(body.run);
    } catch (err) {
      if (err.code === "training_busy" && err.body && err.body.run) {
        showStatus($("train-status"), "A network is already training on this server: watching it.");
        follow(err.body.run);
        return;
      }
      showError($("train-status"), err, () => start(e));
    }
  }

  function follow(id) {
    if (source) source.close();
    run = id;
    epochs = [];
    chart();
    $("train-start").disabled = true;
    $("train-stop").disabled = false;
    source = new EventSource(`/api/train/${id}/events`);
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        source.close();
        showError($("train-status"), new ApiError("timeout", "no news from the training for 20 s"),
          () => follow(run));
      }, 20000);
    };
    arm();
    source.onmessage = (m) => { arm(); event(JSON.parse(m.data)); };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        clearTimeout(watchdog);
        showError($("train-status"), new ApiError("network", "lost the training's events"),
          () => follow(run));
      }
    };
  }

  function finish() {
    clearTimeout(watchdog);
    if (source) source.close();
    source = null;
    $("train-start").disabled = false;
    $("train-stop").disabled = true;
  }

  function event(e) {
    const bar = $("train-progress");
    if (e.type === "start") {
      total = e.steps;
      epochs = [];
      showStatus($("train-status"), `Training ${e.preset} (${e.parameters.toLocaleString("en")} ` +
        `weights) on ${e.digits.toLocaleString("en")} digits for ${e.epochs} epochs...`);
    }
    if (e.filters) filtersCanvas($("train-filters"), e.filters, e.filters.kind);
    if (e.step !== undefined && total) { bar.max = total; bar.value = e.step; }
    if (e.type === "epoch") {
      epochs.push(e);
      chart();
      showStatus($("train-status"), `Epoch ${e.epoch} of ${e.epochs}: train loss ` +
        `${e.train_loss.toFixed(3)}, validation accuracy ${pct(e.val_accuracy)}`);
    }
    if (["done", "stopped"].includes(e.type)) {
      finish();
      bar.value = e.type === "done" ? bar.max : bar.value;
      showStatus($("train-status"), `${e.type === "done" ? "Done" : "Stopped"}: ` +
        `${pct(e.test_accuracy)} of 2,000 test digits right. Read your drawing with it: ` +
        "\"the one trained here\", above.");
      enableModel("trained", true);
      if (state.which === "trained") useModel("trained", { keepMessages: true });
    }
    if (e.type === "failed") {
      finish();
      showError($("train-status"), new ApiError(e.code, e.detail), () => start(new Event("submit")));
    }
  }

  async function stop() {
    if (!run) return;
    try {
      await request(`/api/train/${run}/stop`, { method: "POST" });
      showStatus($("train-status"), "Stopping after this batch...");
    } catch (e) {
      showError($("train-status"), e, stop);
    }
  }

  // Loss (left axis) and validation accuracy (right axis) by epoch, drawn by hand.
  function chart() {
    const c = $("chart");
    const g = c.getContext("2d");
    const W = c.width, H = c.height, L = 44, R = 48, T = 26, B = 28;
    g.clearRect(0, 0, W, H);
    g.font = "12px system-ui, sans-serif";
    g.strokeStyle = "#d0d7de";
    g.lineWidth = 1;
    g.strokeRect(L, T, W - L - R, H - T - B);
    const n = Math.max(1, epochs.length ? epochs[0].epochs : 1);
    const maxLoss = Math.max(0.5, ...epochs.map((e) => Math.max(e.train_loss, e.val_loss || 0)));
    const accs = epochs.map((e) => e.val_accuracy).filter((v) => v !== undefined);
    const lowAcc = accs.length ? Math.max(0, Math.floor(Math.min(...accs) * 10) / 10) : 0;
    const x = (i) => L + (W - L - R) * (i / n);
    const yl = (v) => T + (H - T - B) * (1 - v / maxLoss);
    const ya = (v) => T + (H - T - B) * (1 - (v - lowAcc) / (1 - lowAcc));
    g.fillStyle = "#57606a";
    g.fillText(maxLoss.toFixed(1), 8, T + 10);
    g.fillText("0", L - 12, H - B);
    g.fillText("100%", W - R + 4, T + 10);
    g.fillText(`${Math.round(lowAcc * 100)}%`, W - R + 4, H - B);
    g.fillText(epochs.length ? `epoch (of ${n})` : "epoch", W / 2 - 30, H - 8);
    const key = (label, colour, at, dash = []) => {
      g.strokeStyle = colour;
      g.setLineDash(dash);
      g.lineWidth = 2;
      g.beginPath(); g.moveTo(at, 10); g.lineTo(at + 18, 10); g.stroke();
      g.setLineDash([]);
      g.fillStyle = colour;
      g.fillText(label, at + 22, 14);
    };
    key("train loss", "#d1242f", L);
    key("validation loss", "#d1242f", L + 100, [4, 3]);
    key("validation accuracy", "#0b5cad", L + 228);
    const line = (name, y, colour, dash = []) => {
      const pts = epochs.filter((e) => e[name] !== undefined);
      if (!pts.length) return;
      g.strokeStyle = colour;
      g.setLineDash(dash);
      g.lineWidth = 2;
      g.beginPath();
      pts.forEach((e, i) => (i ? g.lineTo(x(e.epoch), y(e[name])) : g.moveTo(x(e.epoch), y(e[name]))));
      g.stroke();
      g.setLineDash([]);
      g.fillStyle = colour;
      pts.forEach((e) => g.fillRect(x(e.epoch) - 2, y(e[name]) - 2, 4, 4));
    };
    line("train_loss", yl, "#d1242f");
    line("val_loss", yl, "#d1242f", [4, 3]);
    line("val_accuracy", ya, "#0b5cad");
    if (accs.length) {
      g.fillStyle = "#0b5cad";
      g.fillText(pct(accs[accs.length - 1]), W - R - 44, ya(accs[accs.length - 1]) + 16);
    }
    c.dataset.epochs = String(epochs.length);
  }

  async function resume() {
    try {
      const body = await request("/api/train");
      if (body.model) enableModel("trained", true);
      if (body.running) follow(body.run);
    } catch (e) {
      showError($("train-status"), e, resume);
    }
  }

  $("train-form").addEventListener("submit", start);
  $("train-stop").addEventListener("click", stop);
  chart();
  return { resume };
})();

// -- the model's facts, and the ONNX link ----------------------------------------------------

async function facts() {
  let m;
  try {
    m = await request(api("/api/model"));
  } catch (e) {
    if (["no_personal_model", "no_trained_model"].includes(e.code)) { useModel("base"); return; }
    showError($("read-status"), e, facts);
    return;
  }
  const rows = [["Model", `${m.file}${m.preset ? ` (preset ${m.preset})` : ""}`],
                ["Parameters", m.parameters.toLocaleString("en")],
                ["Test accuracy", m.test_accuracy == null ? "unknown" : pct(m.test_accuracy, 2)],
                ...(m.adapted ? [["Adapted", `to ${m.adapted.samples} of your samples, from ` +
                  `${m.adapted.base_model} (test accuracy ${m.adapted.base_test_accuracy == null
                    ? "unknown" : pct(m.adapted.base_test_accuracy, 2)})`]] : []),
                ["Layers", m.layers.join(", ")],
                ["digitnet", m.digitnet_version]];
  $("facts").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  const link = $("onnx");
  if (m.onnx.available) {
    link.href = api("/api/model.onnx");
    link.removeAttribute("aria-disabled");
    link.classList.remove("disabled");
    $("onnx-note").textContent = "(input: 28x28 uint8 pixels, for onnxruntime, a browser or a phone)";
  } else {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
    link.classList.add("disabled");
    $("onnx-note").textContent = `(not on this server: ${m.onnx.reason.replace(/^the ONNX download /, "it ")})`;
  }
}

redraw();
showEmpty();
enableModel("personal", false);
enableModel("trained", false);
loadSamples().then(() => {
  if (state.which === "personal" && !(state.samples && state.samples.personal_model)) {
    state.which = "base";
  }
  useModel(state.which);
});
train.resume();
