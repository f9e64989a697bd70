// digitnet's page: draw (pointer events: mouse, pen, touch), read live through /api/read,
// show the reading, the ten probabilities and the 28x28 inputs; photos; a look inside.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const answer = document.getElementById("answer");
const bars = document.getElementById("bars");
const inputs = document.getElementById("inputs");
const BRUSH = pad.width / 14;          // MNIST's strokes are about 1/14 of the digit box
const strokes = [];                    // each a list of [x, y] in canvas pixels
let current = null;
let lastInput = null;                  // the first digit's 28x28 input, for "look inside"
// which model reads: "base", or "personal" once the user has adapted one (kept in the browser)
let which = localStorage.getItem("digitnet-model") === "personal" ? "personal" : "base";
const api = (path) => (which === "personal" ? `${path}?model=personal` : path);

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

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  current = [at(e)];
  strokes.push(current);
  redraw();
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
  redraw();
  readNow();
}
function undo() {
  strokes.pop();
  redraw();
  readNow();
}
document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("undo").addEventListener("click", undo);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") { e.preventDefault(); clearPad(); }
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); }
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
const examples = document.getElementById("examples");
for (const [digit, lines] of Object.entries(EXAMPLES)) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = digit;
  b.setAttribute("aria-label", `Draw an example ${digit}`);
  b.addEventListener("click", () => {
    strokes.length = 0;
    const k = pad.width / 28;
    for (const line of lines) strokes.push(line.map(([x, y]) => [x * k, y * k]));
    redraw();
    readNow();
  });
  examples.appendChild(b);
}

// -- reading ------------------------------------------------------------------------------

let busy = false, again = false, timer = null;
// for tests and tools: how many readings are pending (0 once the page shows the latest)
window.fetchesInFlight = () => (busy ? 1 : 0) + (again ? 1 : 0) + (timer ? 1 : 0);

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
  const result = await post(blob, "drawing.png");
  if (!strokes.length) { showEmpty(); return; }
  if (result.error) {
    if (/no (ink|digit)/.test(result.error)) showEmpty();
    else show(answer, result.error);
    return;
  }
  showReading(result, answer, inputs, bars);
}

async function post(file, name) {
  const form = new FormData();
  form.append("image", file, name);
  const response = await fetch(api("/api/read"), { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) return { error: body.detail || `error ${response.status}` };
  return body;
}

function show(element, text) {
  element.textContent = text;
}

function showEmpty() {
  show(answer, "Draw a digit");
  answer.dataset.state = "empty";
  bars.replaceChildren();
  inputs.replaceChildren();
  lastInput = null;
}

function pct(p, digits = 1) {
  return `${(100 * p).toFixed(digits)}%`;
}

function describeReading(result) {
  const d = result.digits;
  if (d.length === 1) {
    const [a, b] = d[0].top;
    return d[0].sure ? `It's a ${a.digit} (${pct(a.confidence)})`
      : `Not sure: ${a.digit} (${pct(a.confidence)}) or ${b.digit} (${pct(b.confidence)})`;
  }
  const text = `It reads ${result.number} (confidence ${pct(result.confidence)})`;
  return result.sure ? text : `${text}, not sure of every digit`;
}

function showReading(result, where, inputsBox, barsBox) {
  show(where, describeReading(result));
  where.dataset.state = result.sure ? "sure" : "unsure";
  where.dataset.number = result.number;
  inputsBox.replaceChildren(...result.digits.map(digitFigure));
  lastInput = result.digits[0].input;
  if (barsBox) drawBars(barsBox, result.digits.length === 1 ? result.digits[0] : null);
  if (document.getElementById("inside").open) lookInside();
}

function drawBars(box, digit) {
  box.replaceChildren();
  if (!digit) return;
  digit.probabilities.forEach((p, k) => {
    const li = document.createElement("li");
    li.className = k === digit.digit ? "best" : "";
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = `${k}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.setAttribute("aria-hidden", "true");
    bar.style.width = `${Math.max(0.5, 100 * p)}%`;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = pct(p);
    li.append(label, bar, value);
    li.setAttribute("aria-label", `${k}: ${pct(p)}`);
    box.appendChild(li);
  });
}

function digitFigure(d) {
  const figure = document.createElement("figure");
  const c = document.createElement("canvas");
  c.width = 28; c.height = 28;
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", `The 28x28 input read as ${d.digit}`);
  const img = c.getContext("2d").createImageData(28, 28);
  d.input.flat().forEach((v, i) => {
    img.data.set([v, v, v, 255], 4 * i);
  });
  c.getContext("2d").putImageData(img, 0, 0);
  const caption = document.createElement("figcaption");
  caption.textContent = `${d.digit} (${pct(d.confidence)})`;
  figure.append(c, caption);
  return figure;
}

// -- "that's wrong": keep the drawing as a labelled sample ----------------------------------

document.getElementById("correct").addEventListener("submit", async (e) => {
  e.preventDefault();
  const kept = document.getElementById("kept");
  if (!strokes.length) { show(kept, "Draw the digit first."); return; }
  const digit = document.getElementById("truth").value;
  const blob = await new Promise((ok) => pad.toBlob(ok, "image/png"));
  const form = new FormData();
  form.append("image", blob, "drawing.png");
  form.append("digit", digit);
  const response = await fetch("/api/samples", { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) { show(kept, body.detail || `error ${response.status}`); return; }
  const total = body.counts.reduce((a, b) => a + b, 0);
  show(kept, `Kept as a ${digit}: ${body.counts[digit]} of this digit, ${total} in all. ` +
    "Keep a few more, then adapt.");
  samplesState(body.counts, null);
});

// -- "adapt to my handwriting", and which model reads ------------------------------------------

const adaptButton = document.getElementById("adapt");
const adapted = document.getElementById("adapted");
const personalRadio = document.querySelector('input[name="which"][value="personal"]');

function samplesState(counts, personal) {
  adaptButton.disabled = counts.reduce((a, b) => a + b, 0) === 0;
  if (personal !== null) personalRadio.disabled = !personal;
}

function useModel(name) {
  which = name;
  localStorage.setItem("digitnet-model", name);
  document.querySelector(`input[name="which"][value="${name}"]`).checked = true;
  document.getElementById("onnx").href = api("/api/model.onnx");
  facts();
  readNow();
}

document.getElementById("which").addEventListener("change", (e) => useModel(e.target.value));

adaptButton.addEventListener("click", async () => {
  adaptButton.disabled = true;
  show(adapted, "Adapting to your samples...");
  try {
    const response = await fetch("/api/adapt", { method: "POST" });
    const body = await response.json();
    if (!response.ok) { show(adapted, body.detail || `error ${response.status}`); return; }
    const n = body.samples.reduce((a, b) => a + b, 0);
    const base = body.adapted.base_test_accuracy;
    show(adapted, `Adapted to ${n} samples. MNIST test accuracy ${pct(body.test_accuracy, 2)}` +
      (base == null ? "" : ` (base model ${pct(base, 2)})`) + ". Reading with your model now.");
    personalRadio.disabled = false;
    useModel("personal");
  } finally {
    adaptButton.disabled = false;
  }
});

async function loadSamplesState() {
  const body = await (await fetch("/api/samples")).json();
  samplesState(body.counts, body.personal_model);
  if (which === "personal" && !body.personal_model) which = "base";
  useModel(which);
}

// -- photos -------------------------------------------------------------------------------

const photoAnswer = document.getElementById("photo-answer");
const photoView = document.getElementById("photo-view");
document.getElementById("file").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  show(photoAnswer, "Reading...");
  photoView.replaceChildren();
  document.getElementById("photo-inputs").replaceChildren();
  const result = await post(file, file.name);
  if (result.error) { show(photoAnswer, result.error); photoAnswer.dataset.state = "error"; return; }
  const img = document.createElement("img");
  img.src = URL.createObjectURL(file);
  img.alt = `Your photo, read as ${result.number}`;
  photoView.appendChild(img);
  for (const d of result.digits) {
    const [l, t, r, b] = d.box;
    const box = document.createElement("div");
    box.className = "box";
    box.style.left = `${100 * l / result.width}%`;
    box.style.top = `${100 * t / result.height}%`;
    box.style.width = `${100 * (r - l) / result.width}%`;
    box.style.height = `${100 * (b - t) / result.height}%`;
    box.textContent = d.digit;
    photoView.appendChild(box);
  }
  showReading(result, photoAnswer, document.getElementById("photo-inputs"), null);
});

// -- inside the network, and the model's facts -------------------------------------------------

async function lookInside() {
  const box = document.getElementById("layers");
  if (!lastInput) { box.textContent = "Draw a digit first."; return; }
  const response = await fetch(api("/api/inside"), {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ pixels: lastInput }),
  });
  const body = await response.json();
  box.replaceChildren(...body.layers.map((layer) => {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = layer.image;
    img.alt = `Output of ${layer.name}, shape ${layer.shape.join("x")}`;
    const caption = document.createElement("figcaption");
    caption.textContent = `${layer.name} (${layer.shape.join("x")})`;
    figure.append(img, caption);
    return figure;
  }));
}
document.getElementById("inside").addEventListener("toggle", (e) => {
  if (e.target.open) lookInside();
});

async function facts() {
  const response = await fetch(api("/api/model"));
  if (!response.ok && which === "personal") { useModel("base"); return; }   // removed since
  const m = await response.json();
  const rows = [["Model", `${m.file}${m.preset ? ` (preset ${m.preset})` : ""}`],
                ["Parameters", m.parameters.toLocaleString("en")],
                ["Test accuracy", m.test_accuracy == null ? "unknown" : pct(m.test_accuracy, 2)],
                ...(m.adapted ? [["Adapted", `to ${m.adapted.samples} of your samples, from ` +
                  `${m.adapted.base_model} (test accuracy ${m.adapted.base_test_accuracy == null
                    ? "unknown" : pct(m.adapted.base_test_accuracy, 2)})`]] : []),
                ["Layers", m.layers.join(", ")],
                ["digitnet", m.digitnet_version]];
  document.getElementById("facts").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
}

redraw();
loadSamplesState();
