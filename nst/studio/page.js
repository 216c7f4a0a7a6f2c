// The studio's page: the form, the run being watched, the gallery. Everything comes from the JSON API; text from
// the server is set with textContent only (never as HTML).
//
// The token: the address `nst studio` prints carries it in its fragment (#token=...), which the browser sends
// nowhere. The page moves it into this tab's sessionStorage, takes it out of the address bar, and sends it as
// `Authorization: token ...` with every request, images and files included (they are shown from blob: URLs). No
// cookie: a cookie would go to every other server on this host, whatever its port.
"use strict";
const $ = (id) => document.getElementById(id);
const ROLES = ["content", "style"];
const SERIES = [[1, "#2b3a55", "total J"], [2, "#2e7d32", "J content"], [3, "#c62828", "J style"]];
const TOKEN_KEY = "nst-studio-token";
const VIEWABLE = /^(image\/(png|jpeg)|application\/json|text\/plain)/;  // opened in a tab; anything else downloads
let info = null, current = null, timer = null, lastImage = null, fillOnOpen = false, stopping = null;
let galleryUrls = [];

// The address's fragment: `token=...` and `run=NAME` (an older address's `#NAME` or `?token=...` read too).
function addressParams() {
  const fragment = location.hash.slice(1);
  const params = new URLSearchParams(fragment.includes("=") ? fragment : "");
  if (fragment && !fragment.includes("=")) params.set("run", decodeURIComponent(fragment));
  const query = new URLSearchParams(location.search);
  if (!params.get("token") && query.get("token")) params.set("token", query.get("token"));
  return params;
}
function takeToken() {
  const params = addressParams();
  if (params.get("token")) sessionStorage.setItem(TOKEN_KEY, params.get("token"));
  params.delete("token");
  showAddress(params.get("run"));
  return params.get("run");
}
function showAddress(run) {
  history.replaceState(null, "", location.pathname + (run ? `#run=${encodeURIComponent(run)}` : ""));
}

class Unauthorised extends Error {}

async function authorised(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new Unauthorised("this studio needs its token");
  const headers = new Headers(options.headers || {});
  headers.set("Authorization", `token ${token}`);
  const response = await fetch(path, { ...options, headers, credentials: "omit", cache: "no-store" });
  if (response.status === 403) {
    let body = {};
    try { body = await response.clone().json(); } catch (error) { /* not JSON */ }
    if ((body.error || "").includes("needs its token")) throw new Unauthorised(body.error);
  }
  return response;
}

async function api(path, options) {
  const response = await authorised(path, options);
  let body = {};
  try { body = await response.json(); } catch (error) { /* not JSON: the status says it */ }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// A run's file (or a shipped image) fetched with the token: a Blob of the type the studio served, or its blob: URL.
async function fileBlob(path) {
  const response = await authorised(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${response.statusText}`);
  return response.blob();
}
async function blobUrl(path) { return URL.createObjectURL(await fileBlob(path)); }

// Show the file at `path` in the <img> `img`: the newest one asked for wins, the URL it replaces is freed.
async function showImage(img, path) {
  img.dataset.src = path || "";
  if (!path) {
    if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob);
    delete img.dataset.blob;
    img.removeAttribute("src");
    return;
  }
  let url;
  try { url = await blobUrl(path); } catch (error) { if (error instanceof Unauthorised) locked(); return; }
  if (img.dataset.src !== path) { URL.revokeObjectURL(url); return; }
  if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob);
  img.dataset.blob = url;
  img.src = url;
}

// A link to a run's file: opened (images, JSON, text) in a new tab or downloaded, fetched with the token.
function fileLink(path, label, download) {
  const a = document.createElement("a");
  a.href = "#"; a.textContent = label; a.dataset.path = path;
  a.addEventListener("click", (event) => { event.preventDefault(); openFile(path, label, download); });
  return a;
}
async function openFile(path, name, download) {
  const tab = download ? null : window.open("about:blank", "_blank");
  try {
    const blob = await fileBlob(path), url = URL.createObjectURL(blob);
    if (tab && VIEWABLE.test(blob.type)) {
      tab.location.href = url;
    } else {
      if (tab) tab.close();
      const a = document.createElement("a");
      a.href = url; a.download = name; document.body.append(a); a.click(); a.remove();
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    if (tab) tab.close();
    if (error instanceof Unauthorised) locked(); else showMessage(error.message);
  }
}

// Without the token (or with one that is not this studio's): the note on how to get in, nothing else.
function locked() {
  const wrong = sessionStorage.getItem(TOKEN_KEY) !== null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  $("setup").hidden = $("run").hidden = true;
  $("login").hidden = false;
  if (wrong) $("login-message").textContent = "That token is not this studio's (a new one is made at every start).";
  $("token-field").focus();
}
function unlock(event) {
  event.preventDefault();
  const token = $("token-field").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token-field").value = "";
  $("login-message").textContent = "";
  $("login").hidden = true; $("setup").hidden = $("run").hidden = false;
  loadInfo(null).catch(failed);
}
function failed(error) {
  if (error instanceof Unauthorised) locked(); else showMessage(error.message);
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

async function loadInfo(wanted) {
  info = await api("/api/info");
  for (const role of ROLES) {
    const select = $(`${role}-choice`);
    select.replaceChildren(...info.images.map((name) => new Option(name, name)));
  }
  setDefaults();
  $("weights-note").textContent = info.weights_note || "";
  $("runs-dir").textContent = `(${info.runs_dir})`;
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
  showSizePreset();
}

// Print sizes: the preset names the size the width and height fields hold ("other" when none does); above a
// megapixel the CLI paints coarse to fine and, where the whole image does not fit the memory, in tiles.
function showSizePreset() {
  const size = `${$("width").value}x${$("height").value}`, select = $("size-preset");
  select.value = [...select.options].some((o) => o.value === size) ? size : "";
  const pixels = Number($("width").value) * Number($("height").value);
  $("size-note").textContent = pixels > 1e6
    ? "A print size: painted coarse to fine from about the homework's size up (each finer scale with half the "
      + "iterations), in tiles where the whole image does not fit the memory. It takes minutes to hours."
    : "";
}

function pickSizePreset() {
  const value = $("size-preset").value;
  if (!value) return;
  const [width, height] = value.split("x");
  $("width").value = width;
  $("height").value = height;
  showSizePreset();
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
  if (file) {
    if (preview.dataset.blob) URL.revokeObjectURL(preview.dataset.blob);
    preview.dataset.src = "";
    preview.dataset.blob = preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    return;
  }
  if (option && option.dataset.preview) src = option.dataset.preview;
  else if (select.value) src = `/images/${encodeURIComponent(select.value)}`;
  preview.hidden = !src;
  showImage(preview, src);
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
    failed(error);
    $("start").disabled = false;
  }
}

function openRun(name, fill) {
  if (name !== current) showMessage("");
  current = name; fillOnOpen = fill; lastImage = null;
  showAddress(name);
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
    if (error instanceof Unauthorised) { locked(); return; }
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

// "Scale 2 of 3 (960×540) · backward sweep, tile 7 of 12": where a coarse-to-fine or tiled run is.
function scaleText(s) {
  const parts = [];
  if (s.scale && s.scale.scales > 1) {
    parts.push(`Scale ${s.scale.scale + 1} of ${s.scale.scales} (${s.scale.width}×${s.scale.height})`);
  }
  if (s.tile) parts.push(`${s.tile.sweep} sweep, tile ${s.tile.tile + 1} of ${s.tile.tiles}`);
  return parts.join(" · ");
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
  $("scale-line").textContent = scaleText(s);
  $("scale-line").hidden = !$("scale-line").textContent;
  const image = s.image ? fileUrl(s.name, s.image, s.image_version) : null, img = $("progress-image");
  if (image !== lastImage) {
    img.hidden = !image;
    showImage(img, image);
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
  $("download").dataset.path = finished ? fileUrl(s.name, "generated_image.jpg", s.image_version) : "";
  $("results").replaceChildren(...s.results.map((f) => fileLink(fileUrl(s.name, f, s.image_version), f)));
  $("other-files").replaceChildren(...s.other_files.map((f) => fileLink(fileUrl(s.name, f, s.image_version), f)));
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
  try { body = await api("/api/runs"); } catch (error) { if (error instanceof Unauthorised) locked(); return; }
  for (const url of galleryUrls) URL.revokeObjectURL(url);
  galleryUrls = [];
  $("gallery").replaceChildren(...body.runs.map(card));
}

function card(run) {
  const box = document.createElement("div");
  box.className = "card"; box.dataset.name = run.name;
  let picture;
  if (run.image) {
    picture = document.createElement("img");
    picture.alt = "";
    const path = fileUrl(run.name, run.image, run.image_version);
    picture.dataset.src = path;
    blobUrl(path).then((url) => { galleryUrls.push(url); picture.src = url; }).catch(() => {});
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
  window.addEventListener("hashchange", () => location.reload());  // an address pasted into this tab: opened anew
  $("login-form").addEventListener("submit", unlock);
  $("download").addEventListener("click", (event) => {
    event.preventDefault();
    if ($("download").dataset.path) openFile($("download").dataset.path, "generated_image.jpg", true);
  });
  $("start-form").addEventListener("submit", start);
  for (const role of ROLES) {
    $(`${role}-file`).addEventListener("change", () => updatePreview(role));
    $(`${role}-choice`).addEventListener("change", () => updatePreview(role));
  }
  $("defaults").addEventListener("click", setDefaults);
  $("optimizer").addEventListener("change", () => showIterationsDefault(true));
  $("size-preset").addEventListener("change", pickSizePreset);
  for (const id of ["width", "height"]) $(id).addEventListener("input", showSizePreset);
  $("stop").addEventListener("click", async () => {
    const name = current;
    try { await api(`/api/runs/${encodeURIComponent(name)}/stop`, { method: "POST" }); stopping = name; }
    catch (error) { failed(error); }
    poll();
  });
  $("resume").addEventListener("click", async () => {
    showMessage("");
    try { await api(`/api/runs/${encodeURIComponent(current)}/resume`, { method: "POST" }); lastImage = null; }
    catch (error) { failed(error); }
    poll();
  });
  const wanted = takeToken();
  if (!sessionStorage.getItem(TOKEN_KEY)) { locked(); return; }
  loadInfo(wanted).catch(failed);
}
init();
