// The geometry editor of a dashboard tile: drag zone corners and line ends on the
// (blurred) still, then save them with PUT /v1/cameras/{id}/geometry.
//
// The tile's overlay (an SVG whose viewBox is VIEW_W x vh, stretched over the still)
// gets a handle on every zone point and line end. A handle follows the pointer; points
// keep the units the camera's config gives them (normalized 0..1, or pixels of the
// camera's frame). Save sends every zone and line, with the geometry_version the edit
// started from (the server refuses it with 409 when someone saved meanwhile); the new
// geometry counts from the camera's next window. While a tile is being edited the poll
// does not redraw its overlay.
"use strict";

const PanorayEditor = (() => {
  const { api, errorText, svg } = Panoray;

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  /** Config point -> overlay coordinates, and back, for one camera and view height. */
  function mapping(cam, viewW, vh) {
    const scale = (units) => (units === "pixel" ? [cam.width, cam.height] : [1, 1]);
    return {
      toView(p, units) {
        const [sx, sy] = scale(units);
        return [(p[0] / sx) * viewW, (p[1] / sy) * vh];
      },
      fromView(x, y, units) {
        const [sx, sy] = scale(units);
        const nx = clamp(x / viewW, 0, 1);
        const ny = clamp(y / vh, 0, 1);
        const round = units === "pixel" ? (v) => Math.round(v) : (v) => Math.round(v * 1e4) / 1e4;
        return [round(nx * sx), round(ny * sy)];
      },
    };
  }

  /** Overlay coordinates of a pointer event. */
  function pointerAt(overlay, event) {
    const pt = overlay.createSVGPoint();
    pt.x = event.clientX;
    pt.y = event.clientY;
    const m = overlay.getScreenCTM();
    return m ? pt.matrixTransform(m.inverse()) : pt;
  }

  /**
   * Starts editing a tile.
   * @param tile the dashboard's tile (refs.overlay, refs.message, root)
   * @param cam the camera's view from /v1/dashboard (config, width, height, geometry_version)
   * @param viewW, vh the overlay's viewBox size
   * @param done called with the saved camera view, or null when cancelled
   */
  function start(tile, cam, viewW, vh, done) {
    if (cam.config.zones.some((z) => z.units === "pixel") ||
        cam.config.lines.some((l) => l.units === "pixel")) {
      if (!(cam.width > 0 && cam.height > 0)) {
        tile.refs.message.textContent = "pixel geometry can be edited once the camera streams";
        return null;
      }
    }
    const zones = structuredClone(cam.config.zones || []);
    const lines = structuredClone(cam.config.lines || []);
    const version = cam.geometry_version;
    const map = mapping(cam, viewW, vh);
    const overlay = tile.refs.overlay;
    overlay.replaceChildren();
    overlay.classList.add("editing");
    tile.root.dataset.editing = "true";
    const shapes = [];

    function redraw() {
      for (const s of shapes) s.update();
    }

    for (const zone of zones) {
      const poly = svg("polygon", { class: zone.queue ? "zone queue" : "zone", "data-zone": zone.id });
      overlay.append(poly);
      const handles = zone.points.map((_, i) => handle({ "data-zone": zone.id, "data-point": i },
        (x, y) => { zone.points[i] = map.fromView(x, y, zone.units); }));
      shapes.push({ update() {
        const view = zone.points.map((p) => map.toView(p, zone.units));
        poly.setAttribute("points", view.map((p) => p.join(",")).join(" "));
        view.forEach((p, i) => { handles[i].setAttribute("cx", p[0]); handles[i].setAttribute("cy", p[1]); });
      } });
    }
    for (const line of lines) {
      const seg = svg("line", { class: "line", "data-line": line.id });
      overlay.append(seg);
      const ends = ["start", "end"].map((key) => handle({ "data-line": line.id, "data-end": key },
        (x, y) => { line[key] = map.fromView(x, y, line.units); }));
      shapes.push({ update() {
        const [a, b] = [map.toView(line.start, line.units), map.toView(line.end, line.units)];
        seg.setAttribute("x1", a[0]); seg.setAttribute("y1", a[1]);
        seg.setAttribute("x2", b[0]); seg.setAttribute("y2", b[1]);
        ends[0].setAttribute("cx", a[0]); ends[0].setAttribute("cy", a[1]);
        ends[1].setAttribute("cx", b[0]); ends[1].setAttribute("cy", b[1]);
      } });
    }

    /** A draggable circle; move(x, y) gets overlay coordinates. */
    function handle(attrs, move) {
      const c = svg("circle", { class: "handle", r: 14, ...attrs });
      c.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        c.setPointerCapture(event.pointerId);
        c.classList.add("dragging");
      });
      c.addEventListener("pointermove", (event) => {
        if (!c.hasPointerCapture(event.pointerId)) return;
        const p = pointerAt(overlay, event);
        move(p.x, p.y);
        redraw();
      });
      const end = (event) => {
        if (c.hasPointerCapture(event.pointerId)) c.releasePointerCapture(event.pointerId);
        c.classList.remove("dragging");
      };
      c.addEventListener("pointerup", end);
      c.addEventListener("pointercancel", end);
      overlay.append(c);  // on top of every shape drawn before it
      return c;
    }

    redraw();
    const msg = tile.refs.message;
    msg.textContent = "";

    function finish(saved) {
      overlay.classList.remove("editing");
      delete tile.root.dataset.editing;
      done(saved);
    }

    async function save() {
      msg.textContent = "saving…";
      try {
        const r = await api(`/v1/cameras/${encodeURIComponent(cam.id)}/geometry`, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ zones, lines, version }),
        });
        if (r.ok) {
          const view = await r.json();
          msg.textContent = "";
          tile.refs.note.textContent = `saved as geometry version ${view.geometry_version}: ` +
            "it counts from the camera's next window";
          tile.root.dataset.geometryVersion = String(view.geometry_version);
          finish(view);
          return;
        }
        msg.textContent = await errorText(r);
        if (r.status === 401) Panoray.askToken("Saving zones and lines needs the API token.");
      } catch (e) {
        msg.textContent = "cannot reach the API";
      }
    }

    return { save, cancel: () => { msg.textContent = ""; finish(null); } };
  }

  return { start, mapping };
})();
