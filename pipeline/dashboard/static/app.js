// The live dashboard: one tile per camera, updated by polling.
//
// Requests, whatever the number of cameras:
//   GET /v1/dashboard every POLL_MS: every camera's state, counters, config (zones and
//       lines), live analytics and its still's ETag, in one response;
//   GET /v1/cameras/{id}/still only when that ETag changed (at most every STILL_MIN_MS);
//   GET /v1/cameras/{id}/heatmap every HEATMAP_MS while its heatmap is shown, with
//       If-None-Match (304 when unchanged);
//   GET /v1/history every HISTORY_MS for the charts (closed windows, last hour).
// Cameras being placed (start-up, an add) come in the poll's `starting`: their tiles say
// so until they run.
// "Edit zones" on a tile hands its overlay to the geometry editor (editor.js), which
// saves with PUT /v1/cameras/{id}/geometry.
// Images are downloaded with fetch (so the token can be sent) and shown as blob URLs,
// at most MAX_IMAGE_FETCHES at a time.
"use strict";

(() => {
  const POLL_MS = 2000;
  const STILL_MIN_MS = 5000;
  const HEATMAP_MS = 10000;
  const HISTORY_MS = 20000;
  const MAX_IMAGE_FETCHES = 2;
  const MAX_CHARTS = 6;           // charts per tile (zones and lines, in config order)
  const VIEW_W = 1000;            // overlay width in SVG units; height follows the aspect
  const CHART_W = 300;
  const CHART_H = 64;
  const LABEL_GAP = 4;            // least space between two overlay labels (SVG units)
  const LABEL_NUDGES = 12;        // places tried above and below a label's own

  const { api, errorText, el, svg, $ } = Panoray;
  const tiles = new Map();        // camera id -> tile
  let historyAt = 0;
  let historyPending = false;     // a GET /v1/history in flight
  let askedForToken = false;
  let auth = null;
  let pollTimer = null;
  let lastLive = "";  // when the figures shown were last received (local time)
  let tileSerial = 0;

  // -- image downloads, a few at a time ------------------------------------------------
  const imageQueue = [];
  let imageFetches = 0;

  function queueImage(tile, kind) {
    const slot = tile[kind];
    if (slot.pending) return;
    slot.pending = true;
    imageQueue.push(() => fetchImage(tile, kind));
    pumpImages();
  }

  function pumpImages() {
    while (imageFetches < MAX_IMAGE_FETCHES && imageQueue.length) {
      const job = imageQueue.shift();
      imageFetches += 1;
      job().finally(() => { imageFetches -= 1; pumpImages(); });
    }
  }

  async function fetchImage(tile, kind) {
    const slot = tile[kind];
    slot.at = Date.now();
    try {
      const headers = slot.etag ? { "If-None-Match": slot.etag } : {};
      const r = await api(`/v1/cameras/${encodeURIComponent(tile.id)}/${kind}`, { headers });
      if (r.status === 304 || !tiles.has(tile.id)) return;
      if (!r.ok) {
        slot.note = r.status === 404 ? await errorText(r) : `${kind}: ${await errorText(r)}`;
        showImages(tile);
        return;
      }
      const blob = await r.blob();
      if (!tiles.has(tile.id)) return;
      const url = URL.createObjectURL(blob);
      const img = tile.refs[kind];
      const old = slot.url;
      img.addEventListener("load", () => {
        if (old) URL.revokeObjectURL(old);
        tile.root.dataset[kind === "still" ? "stillLoaded" : "heatmapLoaded"] = "true";
      }, { once: true });
      img.src = url;
      slot.url = url;
      slot.etag = r.headers.get("ETag");
      slot.note = "";
      slot.blurred = r.headers.get("X-Panoray-Blurred") !== "false";
      showImages(tile);
    } catch (e) {
      slot.note = `${kind}: cannot reach the API`;
    } finally {
      slot.pending = false;
    }
  }

  // -- formatting -------------------------------------------------------------------------
  const fmt = {
    int: (v) => (v == null ? "–" : Number(v).toLocaleString("en-US")),
    num: (v, d = 1) => (v == null ? "–" : Number(v).toFixed(d)),
    secs(v) {
      if (v == null) return "–";
      if (v < 90) return `${Math.round(v)} s`;
      return `${(v / 60).toFixed(1)} min`;
    },
  };

  function setConn(text, level) {
    const c = $("conn");
    c.textContent = text;
    c.className = `conn conn-${level}`;
  }

  function notice(text) {
    const n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  // -- geometry of the overlay ----------------------------------------------------------
  /** [x, y] in 0..1 of a config point, or null when pixel units meet an unknown size. */
  function norm(point, units, w, h) {
    if (units === "pixel") {
      if (!w || !h) return null;
      return [point[0] / w, point[1] / h];
    }
    return [point[0], point[1]];
  }

  function aspect(cam, still) {
    if (cam.width > 0 && cam.height > 0) return [cam.width, cam.height];
    if (still && still.width > 0) return [still.width, still.height];
    return [16, 9];
  }

  function drawOverlay(tile, cam, vh) {
    const o = tile.refs.overlay;
    o.replaceChildren();
    o.setAttribute("viewBox", `0 0 ${VIEW_W} ${vh}`);
    tile.labels = new Map();
    const cfg = cam.config || {};
    const toView = (p) => [p[0] * VIEW_W, p[1] * vh];
    for (const zone of cfg.zones || []) {
      const pts = zone.points.map((p) => norm(p, zone.units, cam.width, cam.height));
      if (pts.some((p) => p === null)) continue;
      const view = pts.map(toView);
      const cls = zone.queue ? "zone queue" : "zone";
      o.append(svg("polygon", { class: cls, points: view.map((p) => p.join(",")).join(" "),
                                "data-zone": zone.id }));
      const cx = view.reduce((s, p) => s + p[0], 0) / view.length;
      const cy = view.reduce((s, p) => s + p[1], 0) / view.length;
      const label = svg("text", { class: `label ${cls}`, x: cx, y: cy, "text-anchor": "middle",
                                  "data-x": cx, "data-y": cy });
      o.append(label);
      tile.labels.set(`zone:${zone.id}`, label);
    }
    for (const line of cfg.lines || []) {
      const a = norm(line.start, line.units, cam.width, cam.height);
      const b = norm(line.end, line.units, cam.width, cam.height);
      if (!a || !b) continue;
      const [x1, y1] = toView(a);
      const [x2, y2] = toView(b);
      o.append(svg("line", { class: "line", x1, y1, x2, y2, "data-line": line.id }));
      const ny1 = Math.max(26, y1 - 10);
      o.append(svg("text", { class: "label line name", x: x1, y: ny1, "data-x": x1,
                             "data-y": ny1, "text-anchor": "middle", text: line.id }));
      // left_to_right walks towards the segment's right-hand side: normal (-dy, dx) in
      // image coordinates (y down); an arrow and a count on each side.
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const nx = -(y2 - y1) / len;
      const ny = (x2 - x1) / len;
      const mx = (x1 + x2) / 2;
      const my = (y1 + y2) / 2;
      const arrow = 44;
      for (const [ux, uy, key] of [[nx, ny, "lr"], [-nx, -ny, "rl"]]) {
        o.append(svg("line", { class: "dir", x1: mx + ux * 6, y1: my + uy * 6,
                               x2: mx + ux * arrow, y2: my + uy * arrow,
                               "marker-end": `url(#${tile.markerId})` }));
        const anchor = ux > 0.3 ? "start" : (ux < -0.3 ? "end" : "middle");
        const dy = uy > 0.3 ? 24 : (uy < -0.3 ? -6 : 9);
        const lx = mx + ux * (arrow + 8);
        const ly = my + uy * (arrow + 8) + dy;
        const label = svg("text", { class: "label line", "text-anchor": anchor, x: lx, y: ly,
                                    "data-x": lx, "data-y": ly });
        o.append(label);
        tile.labels.set(`line:${line.id}:${key}`, label);
      }
    }
    o.prepend(svg("defs", {}, svg("marker", {
      id: tile.markerId, viewBox: "0 0 10 10", refX: 8, refY: 5, markerWidth: 5, markerHeight: 5,
      orient: "auto-start-reverse",
    }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
  }

  function updateLabels(tile, cam, live) {
    const cfg = cam.config || {};
    for (const zone of cfg.zones || []) {
      const label = tile.labels.get(`zone:${zone.id}`);
      const z = live && live.zones ? live.zones[zone.id] : null;
      if (!label) continue;
      let text = `${zone.id} ${z ? z.occupancy : "–"}`;
      if (z && z.queue) text += ` · wait ${fmt.secs(z.queue.est_wait_s)}`;
      label.textContent = text;
    }
    for (const line of cfg.lines || []) {
      const counts = live && live.lines ? live.lines[line.id] : null;
      for (const [key, name] of [["lr", line.left_to_right], ["rl", line.right_to_left]]) {
        const label = tile.labels.get(`line:${line.id}:${key}`);
        if (label) label.textContent = `${name} ${fmt.int(counts ? counts[name] : null)}`;
      }
    }
    layoutLabels(tile);
  }

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  function overlaps(a, b) {
    return a.x < b.x + b.w + LABEL_GAP && b.x < a.x + a.w + LABEL_GAP &&
           a.y < b.y + b.h + LABEL_GAP && b.y < a.y + a.h + LABEL_GAP;
  }

  /** Greedy label placement, in drawing order (zones, then lines): each label goes to
   * its own place moved inside the image, else to the nearest place above or below it
   * that no label placed before it covers (else it stays at its own). */
  function layoutLabels(tile) {
    const placed = [];
    for (const label of tile.refs.overlay.querySelectorAll("text.label")) {
      const hx = Number(label.dataset.x);
      const hy = Number(label.dataset.y);
      label.setAttribute("x", hx);
      label.setAttribute("y", hy);
      const b = label.getBBox();  // SVG units, at its own place
      if (!b.width) continue;  // no text, or not rendered
      const x = clamp(b.x, 0, VIEW_W - b.width);
      const y = clamp(b.y, 0, tile.vh - b.height);
      const step = b.height / 2;
      let at = { x, y, w: b.width, h: b.height };
      for (let k = 0; k <= 2 * LABEL_NUDGES; k++) {
        const dy = (k % 2 ? 1 : -1) * Math.ceil(k / 2) * step;  // 0, +1, -1, +2, ... steps
        const c = { ...at, y: y + dy };
        if (c.y < 0 || c.y + c.h > tile.vh) continue;
        if (!placed.some((p) => overlaps(c, p))) { at = c; break; }
      }
      label.setAttribute("x", hx + at.x - b.x);
      label.setAttribute("y", hy + at.y - b.y);
      placed.push(at);
    }
  }

  // -- tiles -------------------------------------------------------------------------------
  function stat(name, cls) {
    const value = el("b", { class: cls, text: "–" });
    return [el("span", { class: "stat" }, `${name} `, value), value];
  }

  function createTile(id) {
    const [fpsBox, fps] = stat("fps", "fps");
    const [framesBox, frames] = stat("frames", "frames");
    const [dropsBox, drops] = stat("drops", "drops");
    const [reconBox, reconnects] = stat("reconnects", "reconnects");
    const state = el("span", { class: "state" });
    const remove = el("button", { type: "button", class: "remove", title: "Stop and remove this camera (needs the API token when one is set)", text: "Remove" });
    const still = el("img", { class: "still", alt: `latest still of ${id}, people blurred` });
    const heat = el("img", { class: "heat", alt: `heatmap of the open window of ${id}` });
    heat.hidden = true;
    const placeholder = el("div", { class: "placeholder", text: "waiting for a still…" });
    const overlay = svg("svg", { class: "overlay", preserveAspectRatio: "none" });
    const view = el("div", { class: "view" }, still, heat, placeholder, overlay);
    const toggle = el("input", { type: "checkbox", class: "heat-toggle" });
    const imgNote = el("span", { class: "muted small img-note" });
    const edit = el("button", { type: "button", class: "edit-geometry", text: "Edit zones",
                                title: "Drag zone corners and line ends, then save (needs the API token when one is set)" });
    const save = el("button", { type: "button", class: "save-geometry", text: "Save", hidden: true });
    const cancel = el("button", { type: "button", class: "cancel-geometry", text: "Cancel", hidden: true });
    const note = el("span", { class: "muted small geometry-note" });
    const counts = el("table", { class: "counts" });
    const charts = el("div", { class: "charts" });
    const reason = el("p", { class: "reason" });
    const message = el("p", { class: "message", role: "alert" });
    const root = el("article", { class: "tile", "data-camera": id },
      el("header", {}, el("h2", { text: id }), state, el("span", { class: "spacer" }), remove),
      el("div", { class: "stats" }, fpsBox, framesBox, dropsBox, reconBox),
      reason,
      view,
      el("div", { class: "view-controls" },
        el("label", {}, toggle, " heatmap of the open window"), imgNote,
        el("span", { class: "spacer" }), edit, save, cancel),
      note,
      message,
      counts,
      charts);
    const tile = {
      id, root, labels: new Map(), geometryKey: "", showHeat: false, cam: null, vh: 0,
      editor: null, windows: null,  // closed windows in the last history (null: not read)
      markerId: `arrow-${++tileSerial}`,
      still: { etag: null, url: null, at: 0, pending: false, note: "", blurred: true },
      heatmap: { etag: null, url: null, at: 0, pending: false, note: "", blurred: true },
      refs: { fps, frames, drops, reconnects, state, remove, still, heatmap: heat, placeholder,
              overlay, view, toggle, imgNote, counts, charts, reason, message, edit, save,
              cancel, note },
    };
    toggle.addEventListener("change", () => {
      tile.showHeat = toggle.checked;
      if (tile.showHeat) queueImage(tile, "heatmap");
      showImages(tile);
    });
    remove.addEventListener("click", () => removeCamera(tile));
    edit.addEventListener("click", () => editGeometry(tile));
    save.addEventListener("click", () => tile.editor && tile.editor.save());
    cancel.addEventListener("click", () => tile.editor && tile.editor.cancel());
    showImages(tile);
    tiles.set(id, tile);
    $("tiles").append(root);
    return tile;
  }

  function editGeometry(tile) {
    if (tile.editor || !tile.cam) return;
    const r = tile.refs;
    const editing = (on) => {
      r.edit.hidden = on;
      r.save.hidden = !on;
      r.cancel.hidden = !on;
    };
    tile.editor = PanorayEditor.start(tile, tile.cam, VIEW_W, tile.vh, (saved) => {
      tile.editor = null;
      editing(false);
      if (saved) tile.cam = { ...tile.cam, config: saved.config, geometry_version: saved.geometry_version };
      tile.geometryKey = "";
      updateTile(tile, tile.cam, tile.live, null);
    });
    if (tile.editor) editing(true);
  }

  function showImages(tile) {
    const r = tile.refs;
    const heat = tile.showHeat && tile.heatmap.url;
    r.still.hidden = !tile.still.url || heat;
    r.heatmap.hidden = !heat;
    r.placeholder.hidden = Boolean(tile.still.url) || Boolean(heat);
    if (!tile.still.url) r.placeholder.textContent = tile.still.note || "waiting for a still…";
    const notes = [];
    if (tile.still.url && !tile.still.blurred) notes.push("not blurred (privacy.blur_people: false)");
    if (tile.showHeat && tile.heatmap.note) notes.push(tile.heatmap.note);
    r.imgNote.textContent = notes.join(" · ");
  }

  function dropTile(id) {
    const tile = tiles.get(id);
    if (!tile) return;
    tiles.delete(id);
    tile.root.remove();
    for (const slot of [tile.still, tile.heatmap]) if (slot.url) URL.revokeObjectURL(slot.url);
  }

  // Classes an element counts (each counted separately); person unless configured.
  function classesOf(element) {
    return element.classes && element.classes.length ? element.classes : ["person"];
  }

  // " (red 2 · blue 1)" for an element that counts several classes, else "".
  function byClass(element, value) {
    if (classesOf(element).length < 2) return "";
    return ` (${classesOf(element).map((c) => `${c} ${fmt.int(value(c))}`).join(" · ")})`;
  }

  function countsTable(tile, cam, live) {
    const cfg = cam.config || {};
    const rows = [];
    for (const zone of cfg.zones || []) {
      const z = live && live.zones ? live.zones[zone.id] : null;
      const part = (c) => (z && z.by_class && z.by_class[c] ? z.by_class[c].occupancy : null);
      rows.push(el("tr", { "data-zone": zone.id },
        el("th", { text: zone.id }),
        el("td", { class: "occupancy",
                   text: `occupancy ${z ? z.occupancy : "–"}${z ? byClass(zone, part) : ""}` }),
        el("td", { text: `visits ${z ? fmt.int(z.visits_total) : "–"}` }),
        el("td", { text: zone.queue && z && z.queue
          ? `queue ${z.queue.length} · est. wait ${fmt.secs(z.queue.est_wait_s)}`
          : (zone.queue ? "queue –" : "") })));
    }
    for (const line of cfg.lines || []) {
      const c = live && live.lines ? live.lines[line.id] : null;
      const per = live && live.lines_by_class ? live.lines_by_class[line.id] || {} : {};
      const dir = (name) => `${name} ${c ? fmt.int(c[name]) : "–"}`
        + (c ? byClass(line, (k) => (per[k] ? per[k][name] : null)) : "");
      rows.push(el("tr", { "data-line": line.id },
        el("th", { text: line.id }),
        el("td", { class: "lr", text: dir(line.left_to_right) }),
        el("td", { class: "rl", text: dir(line.right_to_left) }),
        el("td", {})));
    }
    tile.refs.counts.replaceChildren(...rows);
  }

  function updateTile(tile, cam, live, still) {
    const r = tile.refs;
    r.state.textContent = cam.state;
    r.state.className = `state s-${cam.state}`;
    r.fps.textContent = fmt.num(cam.delivered_fps);
    r.fps.title = `frames analysed per second; decoded ${fmt.num(cam.fps)}/s, source ${fmt.num(cam.source_fps)}/s`;
    r.frames.textContent = fmt.int(cam.frames_delivered);
    r.drops.textContent = fmt.int(cam.frames_dropped);
    r.reconnects.textContent = fmt.int(cam.reconnects);
    const why = cam.reason || (cam.state !== "streaming" ? cam.last_error : "");
    r.reason.textContent = why || "";
    r.reason.hidden = !why;
    const starting = cam.state === "starting";  // being placed: nothing to remove or edit yet
    r.remove.disabled = starting || (auth ? !auth.changes_allowed : false);
    r.edit.disabled = r.remove.disabled;
    tile.root.dataset.geometryVersion = String(cam.geometry_version || 0);

    const [w, h] = aspect(cam, still);
    const vh = Math.round((VIEW_W * h) / w);
    r.view.style.aspectRatio = `${w} / ${h}`;
    const key = JSON.stringify([cam.config && cam.config.zones, cam.config && cam.config.lines,
                                cam.width, cam.height]);
    tile.cam = cam;
    tile.live = live;
    tile.vh = vh;
    if (!tile.editor) {  // the editor owns the overlay until saved or cancelled
      if (key !== tile.geometryKey) {
        tile.geometryKey = key;
        drawOverlay(tile, cam, vh);
      }
      updateLabels(tile, cam, live);
    }
    countsTable(tile, cam, live);
    if (starting || tile.windows === 0) showNoData(tile);

    const now = Date.now();
    if (still && still.etag !== tile.still.etag && now - tile.still.at >= STILL_MIN_MS) {
      queueImage(tile, "still");
    }
    if (tile.showHeat && now - tile.heatmap.at >= HEATMAP_MS) queueImage(tile, "heatmap");
  }

  async function removeCamera(tile) {
    if (!window.confirm(`Stop and remove camera ${tile.id}? Its open windows are written.`)) return;
    const msg = tile.refs.message;
    msg.textContent = "removing…";
    try {
      const r = await api(`/v1/cameras/${encodeURIComponent(tile.id)}`, { method: "DELETE" });
      if (r.ok || r.status === 404) {
        dropTile(tile.id);
        return;
      }
      msg.textContent = await errorText(r);
      if (r.status === 401) Panoray.askToken("Removing a camera needs the API token.");
    } catch (e) {
      msg.textContent = "cannot reach the API";
    }
  }

  // -- charts of closed windows ---------------------------------------------------------
  function seriesOf(windows, cfg) {
    const out = [];
    // one series per element and class: "door" or, counting several, "door · cart"
    const named = (e, c) => (classesOf(e).length > 1 ? `${e.id} · ${c}` : e.id);
    for (const zone of cfg.zones || []) {
      for (const c of classesOf(zone)) {
        out.push({ kind: "zone", id: named(zone, c), key: `zone:${zone.id}:${c}`,
                   queue: zone.queue, points: [],
                   names: [zone.queue ? "mean queue" : "mean occupancy", "max"] });
      }
    }
    for (const line of cfg.lines || []) {
      for (const c of classesOf(line)) {
        out.push({ kind: "line", id: named(line, c), key: `line:${line.id}:${c}`, points: [],
                   names: [line.left_to_right, line.right_to_left] });
      }
    }
    const index = new Map(out.map((s) => [s.key, s]));
    for (const w of windows) {
      const t0 = w.start_at != null ? w.start_at : w.start_s;
      const t1 = t0 + (w.end_s - w.start_s);
      for (const row of w.rows) {
        const s = index.get(
          `${row.element_kind}:${row.element_id}:${row.class_name || "person"}`);
        if (!s) continue;
        const values = row.element_kind === "zone"
          ? [row.occupancy_mean, row.occupancy_max]
          : [row.lr_count, row.rl_count];
        s.points.push({ t0, t1, values, suppressed: row.suppressed,
                        wait: row.est_wait_s, coverage: w.coverage });
      }
    }
    return out;
  }

  function chart(series, horizonS) {
    const pts = series.points;
    const box = el("figure", { class: "chart", "data-element": `${series.kind}:${series.id}`,
                               "data-windows": pts.length });
    const title = el("figcaption");
    const plot = svg("svg", { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: "plot",
                              preserveAspectRatio: "none", role: "img" });
    box.append(title, plot);
    if (!pts.length) {
      title.textContent = `${series.id}: no closed window yet`;
      return box;
    }
    const tMax = pts[pts.length - 1].t1;
    const tMin = Math.max(pts[0].t0, tMax - horizonS);
    const span = Math.max(tMax - tMin, 1);
    let vMax = 1;
    for (const p of pts) for (const v of p.values) if (v != null && v > vMax) vMax = v;
    const pad = 3;
    const x = (t) => pad + ((t - tMin) / span) * (CHART_W - 2 * pad);
    const y = (v) => CHART_H - pad - (v / vMax) * (CHART_H - 2 * pad);
    plot.append(svg("line", { class: "axis", x1: pad, y1: CHART_H - pad, x2: CHART_W - pad,
                              y2: CHART_H - pad }));
    series.names.forEach((_, k) => {
      let d = "";
      let pen = false;
      for (const p of pts) {
        const v = p.values[k];
        if (p.t1 <= tMin || v == null) { pen = false; continue; }
        const xm = x((p.t0 + p.t1) / 2);
        d += `${pen ? "L" : "M"}${xm.toFixed(1)},${y(v).toFixed(1)} `;
        pen = true;
      }
      if (d) plot.append(svg("path", { class: `series s${k}`, d }));
    });
    for (const p of pts) {  // suppressed windows (fewer than k people): a grey band
      if (p.suppressed && p.t1 > tMin) {
        plot.append(svg("rect", { class: "suppressed", x: x(p.t0), y: 0,
                                  width: Math.max(1, x(p.t1) - x(p.t0)), height: CHART_H },
                        svg("title", { text: "suppressed: fewer than k people" })));
      }
    }
    for (const p of pts) {  // the camera delivered frames for part of the window only
      if (p.coverage != null && p.coverage < 0.99 && p.t1 > tMin) {
        plot.append(svg("rect", { class: "gap", x: x(p.t0), y: 0,
                                  width: Math.max(1, x(p.t1) - x(p.t0)), height: CHART_H,
                                  "fill-opacity": (0.5 * (1 - p.coverage)).toFixed(2) },
                        svg("title", { text: `camera delivered frames ${Math.round(
                          100 * p.coverage)}% of this window` })));
      }
    }
    const last = pts[pts.length - 1];
    const show = series.kind === "zone" ? fmt.num : fmt.int;
    const latest = last.suppressed ? "suppressed" : last.values.map((v) => show(v)).join(" / ");
    const wait = series.queue && !last.suppressed ? ` · est. wait ${fmt.secs(last.wait)}` : "";
    title.append(el("b", { text: series.id }), " ",
      el("span", { class: "k0", text: series.names[0] }), " / ",
      el("span", { class: "k1", text: series.names[1] }),
      ` per window, last ${Math.max(1, Math.round(span / 60))} min · latest ${latest}${wait}` +
      ` · top of chart ${show(vMax)}`);
    return box;
  }

  /** In place of the charts of a camera without a closed window: says so, and why. */
  function showNoData(tile) {
    const cam = tile.cam;
    const why = cam.reason || cam.last_error;
    const state = `${cam.state}${why ? `: ${why}` : ""}`;
    const text = cam.frames_delivered > 0
      ? "No data yet: no window has closed (its charts start with the first closed window)."
      : `No data yet: the camera has not delivered a frame (${state}).`;
    tile.refs.charts.replaceChildren(el("p", { class: "no-data", text }));
  }

  function drawCharts(tile, cam, windows, horizonS) {
    tile.windows = windows.length;
    tile.root.dataset.windows = String(windows.length);
    if (!windows.length) {
      showNoData(tile);
      return;
    }
    const all = seriesOf(windows, cam.config || {});
    tile.refs.charts.replaceChildren(...all.slice(0, MAX_CHARTS).map((s) => chart(s, horizonS)));
  }

  async function fetchHistory(cameras) {
    if (historyPending) return;
    historyAt = Date.now();
    historyPending = true;
    try {
      const r = await api("/v1/history");
      if (!r.ok) return;
      const h = await r.json();
      for (const cam of cameras) {
        const tile = tiles.get(cam.id);
        if (tile) drawCharts(tile, cam, h.cameras[cam.id] || [], h.horizon_s);
      }
    } catch (e) { /* the next poll retries */ } finally {
      historyPending = false;
    }
  }

  // -- site-wide figures: people inside, zone groups, open alerts ---------------------------
  function renderSite(site) {
    const box = $("site");
    box.hidden = !site;
    if (!site) return;
    const items = [];
    if (site.site_occupancy) {
      const o = site.site_occupancy;
      items.push(el("span", { class: "figure", "data-figure": "site_occupancy",
                              title: `in ${o.entered}, out ${o.left} since ${o.reset_at} (${o.timezone})` },
        el("b", { text: fmt.int(o.value) }), " inside"));
    }
    for (const [name, value] of Object.entries(site.groups || {})) {
      items.push(el("span", { class: "figure", "data-figure": `group:${name}`,
                              title: "sum over its cameras: an upper bound where views overlap" },
        el("b", { text: `≤ ${fmt.int(value)}` }), ` in ${name}`));
    }
    const open = site.open || [];
    items.push(el("span", { class: open.length ? "figure alerting" : "figure",
                            "data-figure": "open_alerts",
                            title: open.map((a) => a.rule_id).join(", ") },
      el("b", { text: fmt.int(open.length) }), ` open alert${open.length === 1 ? "" : "s"}`));
    box.replaceChildren(...items);
  }

  // -- the poll ---------------------------------------------------------------------------
  function render(d) {
    renderSite(d.site);
    auth = d.auth;
    if (auth.token_configured && !Panoray.token() && !askedForToken) {
      askedForToken = true;
      Panoray.askToken(auth.protect_reads
        ? "This pipeline needs its API token to be read."
        : "This pipeline has an API token: enter it to remove cameras from this page.");
    }
    const starting = d.starting || [];  // reserved, being placed: no actor, no figures yet
    const seen = new Set();
    for (const cam of [...d.cameras, ...starting]) {
      if (seen.has(cam.id)) continue;
      seen.add(cam.id);
      const tile = tiles.get(cam.id) || createTile(cam.id);
      updateTile(tile, cam, d.live[cam.id], d.stills[cam.id]);
    }
    for (const id of [...tiles.keys()]) if (!seen.has(id)) dropTile(id);
    $("empty").hidden = seen.size > 0;
    $("summary").textContent = `${d.cameras.length} camera${d.cameras.length === 1 ? "" : "s"}` +
      (starting.length ? ` · ${starting.length} starting` : "") +
      ` · ${fmt.int(d.events_total)} events · ${fmt.int(d.windows_total)} windows`;
    // a camera whose windows were never read (new, or it was starting) is read at once
    if (Date.now() - historyAt >= HISTORY_MS ||
        d.cameras.some((c) => tiles.get(c.id).windows === null)) fetchHistory(d.cameras);
  }

  /** Greys the tiles out (their buttons off) while the figures are not live: the last
   * ones received stay readable, marked with when they were; null: live again. */
  function stale(why) {
    const tilesEl = $("tiles");
    tilesEl.classList.toggle("stale", why !== null);
    tilesEl.inert = why !== null;
    if (why !== null && tiles.size) {
      const at = lastLive ? ` The tiles show the last figures received, at ${lastLive}.` : "";
      notice(`${why}${at}`);
    } else {
      notice(why || "");
    }
  }

  async function poll() {
    clearTimeout(pollTimer);
    try {
      const r = await api("/v1/dashboard");
      if (r.ok) {
        render(await r.json());
        setConn("live", "ok");
        lastLive = new Date().toLocaleTimeString();
        stale(null);
      } else if (r.status === 401) {
        setConn("token needed", "warn");
        Panoray.askToken(await errorText(r));
      } else {
        setConn(r.status === 503 ? "no pipeline" : `error ${r.status}`, "bad");
        stale(await errorText(r));
      }
    } catch (e) {
      setConn("cannot reach the API", "bad");
      stale("The API does not answer (the server stopped, or the network is down).");
    } finally {
      pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  Panoray.initToken(() => { askedForToken = true; historyAt = 0; poll(); });
  poll();
})();
