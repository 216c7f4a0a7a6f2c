// The studio's page: the form, the run being watched, the gallery. Everything comes from the JSON API; text from
// the server is set with textContent only (never as HTML).
"use strict";
const $ = (id) => document.getElementById(id);
const ROLES = ["content", "style"];
const SERIES = [[1, "#2b3a55", "total J"], [2, "#2e7d32", "J content"], [3, "#c62828", "J style"]];
let info = null, current = null, timer = null, lastImage = null, fillOnOpen = false, stopping = null;

async function api(path, options) {
  const response = await fetch(path, options);
  let body = {};
  try { body = await response.json(); } catch (error) { /* not JSON: the status says it */ }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}
function showMessage(text) { $("message").textContent = text || ""; }
function fmt(x) { return x === null || x === undefined ? "—" : Number(x).toPrecision(6); }
function fmtTime(s) {
  if (s === null || s === undefined) return "—";
  s = Math.round(s); return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
function fileUrl(name, file, version) {
  return `/runs/${encodeURIComponent(name)}/${encodeURIComponent(file)}?v=${version || 0}`;
}
function link(href, text) {
  const a = document.createElement("a");
  a.href = href; a.textContent = text; a.target = "_blank"; a.rel = "noopener";
  return a;
}

async function loadInfo() {
  info = await api("/api/info");
  for (const role of ROLES) {
    const select = $(`${role}-choice`);
    select.replaceChildren(...info.images.map((name) => new Option(name, name)));
  }
  setDefaults();
  $("weights-note").textContent = info.weights_note || "";
  $("runs-dir").textContent = `(${info.runs_dir})`;
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (info.running) openRun(info.running, true); else if (wanted) openRun(wanted, true);
  refreshGallery();
}

function setDefaults() {
  for (const role of ROLES) {
    dropRunOption(role);
    $(`${role}-choice`).value = info[`default_${role}`];
    $(`${role}-file`).value = "";
    updatePreview(role);
  }
  setFields(info.defaults);
  showIterationsDefault();
}

// Iterations left empty: the optimiser's own default (200 Adam steps, fewer L-BFGS evaluations), shown as the
// placeholder; switching the optimiser clears a number that was the other optimiser's default.
function showIterationsDefault(switched) {
  const field = $("iterations"), optimizer = $("optimizer").value, previous = field.dataset.optimizer;
  if (switched && Number(field.value) === info.default_iterations[previous]) field.value = "";
  field.placeholder = `${info.default_iterations[optimizer]} (${optimizer}'s default)`;
  field.dataset.optimizer = optimizer;
}

function setFields(settings) {
  for (const [name, value] of Object.entries(settings)) {
    const input = $(name);
    if (!input || !(name in info.defaults)) continue;
    if (input.type === "checkbox") input.checked = !!value; else input.value = value === null ? "" : value;
  }
}

function dropRunOption(role) {
  for (const option of [...$(`${role}-choice`).options]) if (option.value.startsWith("run:")) option.remove();
}

// Opening a run fills the form with what it used (its inputs, settings and seed), so Start repeats it.
function fillForm(s) {
  if (s.state === "damaged") return;
  setFields(s.settings || {});
  showIterationsDefault();
  for (const role of ROLES) {
    const entry = (s.inputs || {})[role] || {}, select = $(`${role}-choice`);
    dropRunOption(role);
    $(`${role}-file`).value = "";
    if (entry.shipped && info.images.includes(entry.from)) {
      select.value = entry.from;
    } else if (entry.file) {
      const option = new Option(`${entry.from || entry.file} (run ${s.name})`, `run:${s.name}`);
      option.dataset.preview = fileUrl(s.name, entry.file);
      select.add(option, 0);
      select.value = option.value;
    }
    updatePreview(role);
  }
}

function updatePreview(role) {
  const file = $(`${role}-file`).files[0], select = $(`${role}-choice`), preview = $(`${role}-preview`);
  const option = select.selectedOptions[0];
  let src = "";
  if (file) src = URL.createObjectURL(file);
  else if (option && option.dataset.preview) src = option.dataset.preview;
  else if (select.value) src = `/images/${encodeURIComponent(select.value)}`;
  preview.hidden = !src;
  if (src) preview.src = src; else preview.removeAttribute("src");
}

async function start(event) {
  event.preventDefault();
  showMessage("");
  const form = new FormData($("start-form"));
  for (const role of ROLES) if (!$(`${role}-file`).files.length) form.delete(`${role}_file`);
  $("start").disabled = true;
  try {
    const body = await api("/api/runs", { method: "POST", body: form });
    lastImage = null;
    openRun(body.name, false);
  } catch (error) {
    showMessage(error.message);
    $("start").disabled = false;
  }
}

function openRun(name, fill) {
  if (name !== current) showMessage("");
  current = name; fillOnOpen = fill; lastImage = null;
  history.replaceState(null, "", `#${encodeURIComponent(name)}`);
  poll();
}

async function poll() {
  clearTimeout(timer);
  if (!current) return;
  try {
    const status = await api(`/api/runs/${encodeURIComponent(current)}`);
    render(status);
    if (fillOnOpen) { fillForm(status); fillOnOpen = false; }
    if (status.state === "running") timer = setTimeout(poll, 250);
    else refreshGallery();
  } catch (error) {
    showMessage(error.message);
    timer = setTimeout(poll, 1000);
  }
}

function settingsText(st, seedDrawn) {
  if (!st || st.width === undefined) return "";
  const seed = st.seed === null || st.seed === undefined ? "random" : `${st.seed}${seedDrawn ? " (drawn at random)" : ""}`;
  return `${st.width}×${st.height}, ${st.iterations} iterations, α ${st.alpha}, β ${st.beta}, `
    + `learning rate ${st.learning_rate}, seed ${seed}`;
}

function render(s) {
  $("no-run").hidden = true; $("view").hidden = false;
  $("run-name").textContent = s.name;
  if (s.state !== "running") stopping = null;
  const asked = s.state === "running" && stopping === s.name;
  $("state").textContent = s.state === "stopped" && s.resumable ? "stopped, resumable" : asked ? "running, stopping…" : s.state;
  $("state").className = `state-${s.state}`;
  const total = s.iterations, done = s.done || 0;
  $("step").textContent = total ? done : "—";
  $("iterations-total").textContent = total || "—";
  $("done-mark").textContent = s.state === "finished" ? ", done" : "";
  $("progress").max = total || 1;
  $("progress").value = done;
  const last = s.costs.length ? s.costs[s.costs.length - 1] : [null, null, null, null];
  $("cost-total").textContent = fmt(last[1]);
  $("cost-content").textContent = fmt(last[2]);
  $("cost-style").textContent = fmt(last[3]);
  $("eta").textContent = s.state === "running" ? (s.eta_seconds === null ? "estimating…" : fmtTime(s.eta_seconds)) : "—";
  const image = s.image ? fileUrl(s.name, s.image, s.image_version) : null, img = $("progress-image");
  if (image !== lastImage) {
    img.hidden = !image;
    if (image) img.src = image; else img.removeAttribute("src");
    lastImage = image;
  }
  img.dataset.file = s.image || "";
  $("settings-line").textContent = settingsText(s.settings, s.seed_drawn);
  // The CLI's last line on stderr: shown while a run starts (the weights download, say) and after a stop.
  const starting = s.state === "running" && done === 0;
  $("console").textContent = starting || s.state === "stopped" ? s.console || "" : "";
  if (s.error) showMessage(s.error);
  $("stop").disabled = s.state !== "running" || asked;
  $("resume").disabled = !s.resumable;
  $("start").disabled = s.state === "running";
  const finished = s.state === "finished" && s.results.includes("generated_image.jpg");
  $("download").hidden = !finished;
  if (finished) $("download").href = fileUrl(s.name, "generated_image.jpg", s.image_version);
  $("results").replaceChildren(...s.results.map((f) => link(fileUrl(s.name, f, s.image_version), f)));
  $("other-files").replaceChildren(...s.other_files.map((f) => link(fileUrl(s.name, f, s.image_version), f)));
  $("other").hidden = !s.other_files.length;
  drawCurve(s.costs);
}

function niceStep(x) {
  const p = 10 ** Math.floor(Math.log10(x)), m = x / p;
  return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

// The three costs against the iteration (as numbered in costs.csv), log-scaled y axis with a tick per decade.
function drawCurve(costs) {
  const canvas = $("curve"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const left = 44, right = 8, top = 22, bottom = 30;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  const rows = costs.filter((r) => r.every((v) => v !== null));
  const values = rows.flatMap((r) => [r[1], r[2], r[3]]).filter((v) => v > 0);
  canvas.dataset.yTicks = ""; canvas.dataset.legend = SERIES.map((s) => s[2]).join(",");
  SERIES.forEach(([, color, label], n) => {
    ctx.fillStyle = color; ctx.fillRect(left + 95 * n, 6, 14, 3); ctx.fillText(label, left + 95 * n + 18, 12);
  });
  if (!values.length) {
    ctx.fillStyle = "#888"; ctx.fillText("the costs show after the first step", left, H / 2);
    return;
  }
  const lo = Math.floor(Math.log10(Math.min(...values))), top10 = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const every = Math.ceil((top10 - lo) / 6), hi = lo + every * Math.ceil((top10 - lo) / every);  // a tick per `every` decades
  const x0 = rows[0][0], x1 = Math.max(rows[rows.length - 1][0], x0 + 1);
  const px = (i) => left + (W - left - right) * (i - x0) / (x1 - x0);
  const py = (v) => top + (H - top - bottom) * (hi - Math.log10(v)) / (hi - lo);
  const line = (a, b, c, d) => { ctx.beginPath(); ctx.moveTo(a, b); ctx.lineTo(c, d); ctx.stroke(); };
  ctx.strokeStyle = "#e3e3e3"; ctx.fillStyle = "#555"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  const ticks = [];
  for (let k = lo; k <= hi; k += every) {
    line(left, py(10 ** k), W - right, py(10 ** k)); ctx.fillText(`1e${k}`, left - 4, py(10 ** k)); ticks.push(`1e${k}`);
  }
  canvas.dataset.yTicks = ticks.join(" ");
  ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.strokeStyle = "#999";
  line(left, H - bottom, W - right, H - bottom); line(left, top, left, H - bottom);
  const step = niceStep(Math.max(1, (x1 - x0) / 5));
  for (let i = Math.ceil(x0 / step) * step; i <= x1; i += step) {
    line(px(i), H - bottom, px(i), H - bottom + 4); ctx.fillText(String(i), px(i), H - bottom + 5);
  }
  ctx.fillText("iteration (cost, log scale)", (left + W - right) / 2, H - 13);
  for (const [k, color] of SERIES) {
    ctx.strokeStyle = color; ctx.beginPath();
    rows.filter((r) => r[k] > 0).forEach((r, j) => (j ? ctx.lineTo(px(r[0]), py(r[k])) : ctx.moveTo(px(r[0]), py(r[k]))));
    ctx.stroke();
  }
}

async function refreshGallery() {
  let body;
  try { body = await api("/api/runs"); } catch (error) { return; }
  $("gallery").replaceChildren(...body.runs.map(card));
}

function card(run) {
  const box = document.createElement("div");
  box.className = "card"; box.dataset.name = run.name;
  let picture;
  if (run.image) {
    picture = document.createElement("img");
    picture.src = fileUrl(run.name, run.image, run.image_version); picture.alt = "";
  } else {
    picture = document.createElement("div");
    picture.className = "blank"; picture.textContent = "no image";
  }
  const title = document.createElement("b"), state = document.createElement("span"), text = document.createElement("div");
  title.textContent = run.name;
  state.className = `state-${run.state}`; state.textContent = run.state;
  const lines = [run.error || settingsText(run.settings, run.seed_drawn)];
  if (run.state !== "damaged") lines.push(`${run.done} of ${run.iterations} iterations, final J ${fmt(run.final_total)}`);
  text.append(title, document.createElement("br"), state, ...lines.flatMap((l) => [document.createElement("br"), l]));
  box.append(picture, text);
  box.addEventListener("click", () => openRun(run.name, true));
  return box;
}

function init() {
  $("start-form").addEventListener("submit", start);
  for (const role of ROLES) {
    $(`${role}-file`).addEventListener("change", () => updatePreview(role));
    $(`${role}-choice`).addEventListener("change", () => updatePreview(role));
  }
  $("defaults").addEventListener("click", setDefaults);
  $("optimizer").addEventListener("change", () => showIterationsDefault(true));
  $("stop").addEventListener("click", async () => {
    const name = current;
    try { await api(`/api/runs/${encodeURIComponent(name)}/stop`, { method: "POST" }); stopping = name; }
    catch (error) { showMessage(error.message); }
    poll();
  });
  $("resume").addEventListener("click", async () => {
    showMessage("");
    try { await api(`/api/runs/${encodeURIComponent(current)}/resume`, { method: "POST" }); lastImage = null; }
    catch (error) { showMessage(error.message); }
    poll();
  });
  loadInfo().catch((error) => showMessage(error.message));
}
init();
