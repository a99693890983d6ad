// The inference page: an image goes to POST /v1/detect and its boxes are drawn over it.
"use strict";

(() => {
  const { api, errorText, el, svg, $ } = Panoray;
  const TYPES = ["image/jpeg", "image/png"];
  let shownUrl = null;

  async function showModel() {
    try {
      const r = await api("/healthz");
      if (!r.ok) return;
      const h = await r.json();
      $("model").textContent = `${h.model} on ${h.provider}`;
    } catch (e) { /* informational only */ }
  }

  function status(text, level = "") {
    const s = $("status");
    s.textContent = text;
    s.className = level ? `status-${level}` : "muted";
  }

  async function detect(file) {
    if (!file) return;
    const type = TYPES.includes(file.type) ? file.type : "application/octet-stream";
    const threshold = $("threshold").value;
    const query = threshold !== "" ? `?threshold=${encodeURIComponent(threshold)}` : "";
    status(`sending ${file.name || "image"} (${Math.round(file.size / 1024)} KiB)…`);
    let r;
    try {
      r = await api(`/v1/detect${query}`, { method: "POST", body: file,
                                            headers: { "Content-Type": type } });
    } catch (e) {
      $("result").hidden = true;
      $("detections").hidden = true;
      status("cannot reach the API", "bad");
      return;
    }
    if (!r.ok) {  // the previous image and its boxes go: they are not this answer's
      $("result").hidden = true;
      $("detections").hidden = true;
      status(`${r.status}: ${await errorText(r)}`, "bad");
      return;
    }
    const result = await r.json();
    draw(file, result);
    status(`${result.detections.length} detection${result.detections.length === 1 ? "" : "s"}` +
           ` · ${result.model} on ${result.provider} · ${result.inference_ms.toFixed(1)} ms` +
           ` · ${result.width}×${result.height} px`, "ok");
  }

  function draw(file, result) {
    const img = $("image");
    if (shownUrl) URL.revokeObjectURL(shownUrl);
    shownUrl = URL.createObjectURL(file);
    img.src = shownUrl;
    const boxes = $("boxes");
    boxes.setAttribute("viewBox", `0 0 ${result.width} ${result.height}`);
    $("result").style.aspectRatio = `${result.width} / ${result.height}`;
    $("result").style.maxWidth = `${Math.max(480, result.width)}px`;  // small images stay small
    const stroke = Math.max(2, Math.round(Math.max(result.width, result.height) / 250));
    const font = Math.max(12, Math.round(Math.max(result.width, result.height) / 40));
    const shapes = [];
    const rows = [];
    result.detections.forEach((d, i) => {
      const [x1, y1, x2, y2] = d.box;
      shapes.push(svg("rect", { class: "box", x: x1, y: y1, width: x2 - x1, height: y2 - y1,
                                "stroke-width": stroke, "data-label": d.label }));
      shapes.push(svg("text", { class: "box-label", x: x1 + stroke, y: Math.max(font, y1 - stroke),
                                "font-size": font, text: `${d.label} ${d.score.toFixed(2)}` }));
      rows.push(el("tr", {}, el("td", { text: i + 1 }), el("td", { text: d.label }),
        el("td", { text: d.score.toFixed(3) }),
        el("td", { text: d.box.map((v) => v.toFixed(1)).join(", ") })));
    });
    boxes.replaceChildren(...shapes);
    $("result").hidden = false;
    $("detections").hidden = rows.length === 0;
    $("detections").querySelector("tbody").replaceChildren(...rows);
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) detect(file);
  });
  $("file").addEventListener("change", (e) => detect(e.target.files[0]));
  Panoray.initToken(() => {});
  showModel();
})();
