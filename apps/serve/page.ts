import type { ModelInfo } from "./runner.ts";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * The web page served at `/`: pick or drop an image, see the predicted
 * classes as bars. Inline HTML, CSS and JS, no external assets.
 *
 * `nonce` is the Content-Security-Policy nonce of the page's one `<style>`
 * and one `<script>` (Hono's secure-headers `NONCE`), so no other inline
 * code runs.
 *
 * The result area carries `data-state` (`idle`, `busy`, `done`, `error`) so a
 * browser test can wait for the prediction to render.
 */
export function renderPage(info: ModelInfo, nonce?: string): string {
  const { height, width, channels } = info.input;
  const title = `${escapeHtml(info.name)} · vitkd`;
  const attr = nonce ? ` nonce="${escapeHtml(nonce)}"` : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style${attr}>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: 0.2rem; }
  .meta { color: #666; margin-top: 0; }
  #drop { border: 2px dashed #999; border-radius: 8px; padding: 1.5rem; text-align: center; cursor: pointer; }
  #drop.over { border-color: #2a6ad6; background: #eef4ff; }
  #preview { max-width: 128px; max-height: 128px; image-rendering: pixelated; display: none; margin: 1rem auto 0; }
  .row { display: grid; grid-template-columns: 8rem 1fr 4rem; gap: 0.5rem; align-items: center; margin: 0.3rem 0; }
  .track { background: #eee; border-radius: 4px; height: 1rem; }
  .bar { background: #2a6ad6; border-radius: 4px; height: 100%; }
  .pct { text-align: right; font-variant-numeric: tabular-nums; }
  .heads, .time { color: #555; font-size: 0.9rem; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>${escapeHtml(info.name)}</h1>
<p class="meta">${
    escapeHtml(info.architecture)
  } · input ${width}x${height}x${channels} ·
${info.classNames.length} classes · version ${escapeHtml(info.version)}</p>
<label id="drop">
  <input id="file" type="file" accept="image/png,image/jpeg" hidden>
  Drop a PNG or JPEG here, or click to pick one.
  <img id="preview" alt="the image sent">
</label>
<div id="results" data-state="idle" aria-live="polite"></div>
<script${attr}>
"use strict";
const drop = document.getElementById("drop");
const input = document.getElementById("file");
const preview = document.getElementById("preview");
const results = document.getElementById("results");

function row(label, probability) {
  const div = document.createElement("div");
  div.className = "row";
  const name = document.createElement("span");
  name.className = "label";
  name.textContent = label;
  const track = document.createElement("div");
  track.className = "track";
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.style.width = (probability * 100).toFixed(1) + "%";
  track.append(bar);
  const pct = document.createElement("span");
  pct.className = "pct";
  pct.textContent = (probability * 100).toFixed(1) + "%";
  div.append(name, track, pct);
  return div;
}

async function predict(file) {
  results.dataset.state = "busy";
  results.textContent = "Predicting " + file.name + "…";
  preview.src = URL.createObjectURL(file);
  preview.style.display = "block";
  try {
    const response = await fetch("/v1/predict?top_k=5", {
      method: "POST",
      headers: { "content-type": file.type || "application/octet-stream" },
      body: file,
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    results.replaceChildren(...body.top.map((c) => row(c.label, c.probability)));
    const heads = document.createElement("p");
    heads.className = "heads";
    heads.textContent = "Heads: " +
      body.heads.map((h) => h.head + " → " + h.label).join(", ");
    const time = document.createElement("p");
    time.className = "time";
    time.textContent = body.model + " · " + body.timeMs.toFixed(1) + " ms";
    results.append(heads, time);
    results.dataset.state = "done";
  } catch (error) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = "Error: " + error.message;
    results.replaceChildren(p);
    results.dataset.state = "error";
  }
}

input.addEventListener("change", () => {
  if (input.files && input.files[0]) predict(input.files[0]);
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (file) predict(file);
});
</script>
</body>
</html>
`;
}
