"""The dashboard in a real browser against a real `panoray run`: an operator's page.

One `panoray run` process (its own Ray) plays the demo clip as two live looping cameras
with 5 s windows and an API token that reads need too (``protect_reads``). Headless
Chromium opens the page, is given the token, and the tests check what an operator sees:
a tile per camera with its still, zones, lines and live counts; numbers that move; charts
of closed windows; tiles that come and go as cameras are added and removed; the
inference page drawing boxes on a photo; and a camera password that never reaches the
browser. Screenshots go to the test's tmp folder (and to ``$PANORAY_SCREENSHOTS`` when
set)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

from pipeline.ingest.health import CameraState
from tests.conftest import free_port, wait_healthy
from tests.images import astronaut_rgb, encode

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"  # 768 x 576
TOKEN = "dashboard-token-" + "k" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD = "s3cr3t"
SECRET_URL = f"rtsp://user:{PASSWORD}@127.0.0.1:9/x"  # nothing listens: it reconnects
ZONE = {"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}
QUEUE_PX = {"id": "crossing", "queue": True, "units": "pixel",
            "points": [[522, 127], [753, 127], [753, 276], [522, 276]]}
LINE = {"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66],
        "left_to_right": "westward", "right_to_left": "eastward"}
CAMERAS = {"steady-a": {"zones": [ZONE], "lines": [LINE]},
           "steady-b": {"zones": [QUEUE_PX], "lines": [LINE]}}
WAIT_MS = 60_000  # longest any one thing may take to show on the page


def _tile(cid: str) -> str:
    return f'article.tile[data-camera="{cid}"]'


class Run:
    """A `panoray run` process, every HTTP body it answered, and the screenshot folder."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.shots = tmp / "shots"
        self.shots.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "run.log"
        config = {
            "cameras": [{"id": cid, "url": str(CLIP), "mode": "live", "target_fps": 4, **geometry,
                         "source": {"loop": True}, "stills": {"interval_s": 2}}
                        for cid, geometry in CAMERAS.items()],
            "analytics": {"window_s": 5, "window_grace_s": 2, "min_distinct_tracks": 1},
            "http": {"port": self.port, "token_env": "PANORAY_API_TOKEN",
                     "protect_reads": True,
                     "allowed_hosts": ["*", "127.0.0.1/32"]},  # SECRET_URL is on loopback
            "serving": {"batch_wait_timeout_s": 0.02},
            # site-wide figures for the dashboard's site bar
            "groups": [{"name": "campus", "zones": [
                {"camera_id": "steady-a", "zone_id": "path-west"},
                {"camera_id": "steady-b", "zone_id": "crossing"}]}],
            "flows": {"record_interval_s": 5, "occupancy": {"lines": [
                {"camera_id": cid, "line_id": "lamp-post", "in": "westward"}
                for cid in CAMERAS]}},
            "alerts": {"rules": [{"id": "path-used", "kind": "presence",
                                  "camera_id": "steady-a", "zone_id": "path-west"}]},
        }
        (tmp / "site.yaml").write_text(json.dumps(config))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["PANORAY_API_TOKEN"] = TOKEN
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(tmp / "site.yaml"), "--output",
             str(tmp / "out")],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
        )
        self.bodies: list[bytes] = []  # every response body (ours and the browser's)

    def text(self) -> str:
        return self.log_path.read_text()

    def request(self, method: str, path: str, **kw) -> requests.Response:
        r = requests.request(method, f"{self.url}{path}", timeout=120,
                             headers={**AUTH, **kw.pop("headers", {})}, **kw)
        self.bodies.append(r.content)
        return r

    def wait_streaming(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.text()[-4000:]
            try:
                cams = {c["id"]: c for c in self.request("GET", "/v1/cameras").json()["cameras"]}
                if all(cams[c]["state"] == "streaming" and cams[c]["frames_delivered"] > 0
                       for c in CAMERAS):
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"the cameras did not stream in time\n{self.text()[-4000:]}")

    def shot(self, page, name: str) -> pathlib.Path:
        path = self.shots / name
        page.screenshot(path=str(path), full_page=True)
        if copy_to := os.environ.get("PANORAY_SCREENSHOTS"):
            pathlib.Path(copy_to).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, pathlib.Path(copy_to) / name)
        return path


@pytest.fixture(scope="module")
def run(chromium, tmp_path_factory):
    # `chromium` first: without a browser the module skips before starting a pipeline
    run = Run(tmp_path_factory.mktemp("dashboard"))
    try:
        wait_healthy(run.url, timeout_s=240, proc=run.proc, log_path=run.log_path)
        run.wait_streaming()
        yield run
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=120) == 128 + signal.SIGTERM, run.text()[-4000:]
        assert PASSWORD not in run.text()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run.log.close()


@pytest.fixture(scope="module")
def page(chromium, run):
    """One browser tab on the dashboard, given the token; every response body is kept."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def keep(response) -> None:
        try:
            run.bodies.append(response.body())
        except Exception:  # noqa: BLE001 - a 304 or redirect has no body
            pass

    tab.on("response", keep)
    tab.goto(f"{run.url}/")
    tab.wait_for_selector("#token-input", state="visible")  # reads need the token
    tab.fill("#token-input", TOKEN)
    tab.click("#token-save")
    yield tab
    assert not errors, errors
    context.close()


def test_a_tile_per_camera_with_blurred_still_zones_lines_and_live_numbers(run, page):
    for cid in CAMERAS:
        page.wait_for_selector(_tile(cid))
    assert page.locator("article.tile").count() == len(CAMERAS)
    # zones and lines from the cameras' config over the still (normalised and pixel units)
    a, b = page.locator(_tile("steady-a")), page.locator(_tile("steady-b"))
    assert a.locator('svg.overlay polygon[data-zone="path-west"]').count() == 1
    assert b.locator('svg.overlay polygon[data-zone="crossing"]').count() == 1
    assert a.locator('svg.overlay line[data-line="lamp-post"]').count() == 1
    pts = b.locator('polygon[data-zone="crossing"]').get_attribute("points").split()
    x0, y0 = (float(v) for v in pts[0].split(","))
    assert (x0, y0) == pytest.approx((522 / 768 * 1000, 127 / 576 * 750), abs=1)
    # the stills arrive (people blurred: the still route says so)
    for cid in CAMERAS:
        page.wait_for_selector(f"{_tile(cid)}[data-still-loaded]")
    width = page.eval_on_selector(f"{_tile('steady-a')} img.still", "img => img.naturalWidth")
    assert width > 0
    still = run.request("GET", "/v1/cameras/steady-a/still")
    assert still.headers["X-Panoray-Blurred"] == "true"
    # numbers move without reloading the page
    frames = a.locator(".frames").inner_text()
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).textContent !== before",
        arg=[f"{_tile('steady-a')} .frames", frames])
    assert a.locator("tr[data-line='lamp-post'] td.lr").inner_text().startswith("westward ")
    assert "occupancy" in a.locator("tr[data-zone='path-west']").inner_text()
    assert "queue" in b.locator("tr[data-zone='crossing']").inner_text()
    # the open window's heatmap over the still, and charts of the closed windows
    b.locator(".heat-toggle").check()
    page.wait_for_selector(f"{_tile('steady-b')}[data-heatmap-loaded]")
    page.wait_for_selector(f"{_tile('steady-a')} .chart[data-element='line:lamp-post'] path.series")
    page.wait_for_selector(f"{_tile('steady-b')} .chart[data-element='zone:crossing'] path.series")
    history = run.request("GET", "/v1/history").json()
    assert history["horizon_s"] == 3600.0 and history["cameras"]["steady-a"]
    assert all("coverage" in w for w in history["cameras"]["steady-a"])
    # the site bar: people inside from the doors, the zone group (an upper bound), alerts
    for figure in ("site_occupancy", "group:campus", "open_alerts"):
        page.wait_for_selector(f'#site [data-figure="{figure}"]')
    assert page.locator('#site [data-figure="group:campus"]').inner_text().startswith("≤ ")
    alerts = run.request("GET", "/v1/alerts").json()
    assert set(alerts["groups"]) == {"campus"} and alerts["groups_are_upper_bounds"]
    assert alerts["site_occupancy"]["value"] >= 0
    run.shot(page, "dashboard.png")


def test_a_zone_point_dragged_on_the_still_and_saved_counts_from_the_next_window(run, page):
    tile = page.locator(_tile("steady-a"))
    page.wait_for_selector(f"{_tile('steady-a')}[data-still-loaded]")
    assert run.request("GET", "/v1/cameras/steady-a").json()["geometry_version"] == 0
    tile.locator("button.edit-geometry").click()
    corner = tile.locator('circle.handle[data-zone="path-west"][data-point="1"]')  # (0.5, 0.28)
    corner.wait_for()
    assert tile.locator("circle.handle").count() == 4 + 2  # the zone's corners, the line's ends
    box, view = corner.bounding_box(), tile.locator(".view").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert (x - view["x"]) / view["width"] == pytest.approx(0.5, abs=0.01)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 0.2 * view["width"], y + 0.1 * view["height"], steps=8)
    page.mouse.up()
    run.shot(page, "geometry-editor.png")
    tile.locator("button.save-geometry").click()
    page.wait_for_selector(f"{_tile('steady-a')}[data-geometry-version='1']")
    assert "geometry version 1" in tile.locator(".geometry-note").inner_text()
    cam = run.request("GET", "/v1/cameras/steady-a").json()
    assert cam["geometry_version"] == 1 and cam["state"] == "streaming"
    points = cam["config"]["zones"][0]["points"]
    assert points[1] == pytest.approx([0.7, 0.38], abs=0.01)
    assert [points[i] for i in (0, 2, 3)] == [ZONE["points"][i] for i in (0, 2, 3)]
    assert cam["config"]["lines"][0]["start"] == LINE["start"]  # not dragged: unchanged
    # the tile draws the saved zone, and the next window is counted with it
    page.wait_for_selector(f'{_tile("steady-a")} svg.overlay polygon[data-zone="path-west"]')
    drawn = tile.locator('polygon[data-zone="path-west"]').get_attribute("points").split()[1]
    assert float(drawn.split(",")[0]) == pytest.approx(700, abs=10)
    deadline = time.monotonic() + 60  # the open 5 s window ends, then its 2 s grace
    while True:
        windows = run.request("GET", "/v1/history",
                              params={"camera_id": "steady-a"}).json()["cameras"]["steady-a"]
        if any(w["geometry_version"] == 1 for w in windows):
            break
        assert time.monotonic() < deadline, windows
        time.sleep(1)
    first = next(i for i, w in enumerate(windows) if w["geometry_version"] == 1)
    assert windows[first - 1]["end_s"] == windows[first]["start_s"]
    assert not windows[first - 1]["complete"] and windows[first - 1]["geometry_version"] == 0


def test_head_of_the_pages_answers_like_their_get_without_a_body(run):
    for path in ("/", "/inference", "/static/app.js", "/static/style.css", "/static/nope.js"):
        got = requests.get(f"{run.url}{path}", timeout=30)
        head = requests.head(f"{run.url}{path}", timeout=30)
        assert head.status_code == got.status_code, (path, head.status_code)
        assert head.content == b"", path
        for name in ("content-type", "content-length", "content-security-policy"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)
    assert requests.head(f"{run.url}/", timeout=30).status_code == 200


def test_the_dashboard_routes_answer_as_documented(run):
    page = requests.get(f"{run.url}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert requests.get(f"{run.url}/static/app.js", timeout=30).status_code == 200
    for name in ("history.py", "..%2F__init__.py", "missing.js"):
        assert requests.get(f"{run.url}/static/{name}", timeout=30).status_code == 404, name
    # reads need the token here (protect_reads)
    bare = requests.get(f"{run.url}/v1/cameras/steady-a/still", timeout=30)
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
    still = run.request("GET", "/v1/cameras/steady-a/still")
    assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"
    again = run.request("GET", "/v1/cameras/steady-a/still",
                        headers={"If-None-Match": still.headers["ETag"]})
    assert again.status_code in (200, 304)  # 200 only if a newer still came in between
    if again.status_code == 304:
        assert again.headers["ETag"] == still.headers["ETag"] and not again.content
    heat = run.request("GET", "/v1/cameras/steady-a/heatmap")
    assert heat.status_code == 200 and heat.content[:4] == b"\x89PNG"
    missing = run.request("GET", "/v1/cameras/nope/heatmap")
    assert missing.status_code == 404 and "no camera" in missing.json()["error"]
    one = run.request("GET", "/v1/history", params={"camera_id": "steady-b"}).json()
    assert list(one["cameras"]) == ["steady-b"]
    rows = [r for w in one["cameras"]["steady-b"] for r in w["rows"]]
    assert {(r["element_kind"], r["element_id"]) for r in rows} == {
        ("zone", "crossing"), ("line", "lamp-post")}
    state = run.request("GET", "/v1/dashboard").json()
    assert state["auth"] == {"token_configured": True, "protect_reads": True,
                             "changes_allowed": True}
    assert set(state["stills"]) == set(CAMERAS) and set(state["live"]) == set(CAMERAS)


def test_tiles_follow_cameras_added_and_removed_through_the_api(run, page):
    r = run.request("POST", "/v1/cameras", json={"id": "locked", "url": SECRET_URL,
                                                 "reconnect": {"max_s": 1.0}})
    assert r.status_code == 201, r.text
    tile = page.locator(_tile("locked"))
    tile.wait_for()
    page.wait_for_function(
        "sel => ['reconnecting', 'connecting'].includes(document.querySelector(sel).textContent)",
        arg=f"{_tile('locked')} .state")
    assert tile.locator("img.still").get_attribute("src") is None  # no still: "waiting"
    assert PASSWORD not in page.content()
    run.shot(page, "dashboard-three-cameras.png")

    r = run.request("DELETE", "/v1/cameras/steady-b")
    assert r.status_code == 200, r.text
    page.locator(_tile("steady-b")).wait_for(state="detached")

    # the page's own Remove button: a state change, sent with the token
    page.once("dialog", lambda dialog: dialog.accept())
    tile.locator("button.remove").click()
    tile.wait_for(state="detached")
    assert run.request("GET", "/v1/cameras/locked").status_code == 404
    assert [c["id"] for c in run.request("GET", "/v1/cameras").json()["cameras"]] == ["steady-a"]
    assert page.locator("article.tile").count() == 1


# Close zones and lines on a camera that never connects (nothing listens): their labels
# would fall on each other, and those of a line on the image's edge outside it.
CROWDED = {"id": "crowded", "url": SECRET_URL, "reconnect": {"max_s": 1.0}, "zones": [
    {"id": "queue-left", "queue": True,
     "points": [[0.30, 0.40], [0.48, 0.40], [0.48, 0.60], [0.30, 0.60]]},
    {"id": "queue-right", "queue": True,
     "points": [[0.40, 0.42], [0.58, 0.42], [0.58, 0.62], [0.40, 0.62]]}], "lines": [
    {"id": "door-a", "start": [0.45, 0.30], "end": [0.45, 0.70]},
    {"id": "door-b", "start": [0.47, 0.30], "end": [0.47, 0.70]},
    {"id": "edge", "start": [0.0, 0.02], "end": [0.0, 0.5]}]}


@pytest.fixture(scope="module")
def crowded(run, page):
    """The CROWDED camera's tile (added once, removed after the module)."""
    r = run.request("POST", "/v1/cameras", json=CROWDED)
    assert r.status_code == 201, r.text
    tile = page.locator(_tile("crowded"))
    tile.wait_for()
    yield tile
    run.request("DELETE", "/v1/cameras/crowded")


def test_every_camera_state_has_its_own_legible_badge(page):
    states = [s.value for s in CameraState] + ["starting"]  # and a camera being placed
    looks = page.evaluate("""states => states.map((s) => {
        const badge = document.createElement("span");
        badge.className = `state s-${s}`;
        badge.textContent = s;
        document.querySelector("main").append(badge);
        const style = getComputedStyle(badge);
        const look = [style.color, style.backgroundColor];
        badge.remove();
        return look;
    })""", states)

    def luminance(css: str) -> float:
        rgb = [int(v) / 255 for v in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    assert len({tuple(look) for look in looks}) == len(states), dict(zip(states, looks))
    for state, (text, background) in zip(states, looks, strict=True):
        high, low = sorted([luminance(text), luminance(background)], reverse=True)
        assert (high + 0.05) / (low + 0.05) >= 4.5, (state, text, background)  # WCAG AA


def test_a_camera_that_never_connected_says_it_has_no_data_yet_and_why(run, page, crowded):
    note = crowded.locator(".charts .no-data")
    note.wait_for()
    page.wait_for_function(
        "sel => /connecting/.test(document.querySelector(sel).textContent)",
        arg=f"{_tile('crowded')} .charts .no-data")
    text = note.inner_text()
    assert text.startswith("No data yet: the camera has not delivered a frame ("), text
    assert PASSWORD not in page.content()


def test_overlay_labels_do_not_overlap_and_stay_inside_the_image(run, page, crowded):
    sel = f"{_tile('crowded')} svg.overlay"
    page.wait_for_function(  # every label has its text (its counts), so its size
        "sel => [...document.querySelectorAll(sel + ' text.label')].every((t) => t.textContent)",
        arg=sel)
    view, labels = page.eval_on_selector(sel, """o => [
        [o.viewBox.baseVal.width, o.viewBox.baseVal.height],
        [...o.querySelectorAll("text.label")].map((t) => {
            const b = t.getBBox();
            return [t.textContent, b.x, b.y, b.width, b.height];
        })]""")
    assert len(labels) == 2 + 3 * 3  # a label per zone; a name and two counts per line
    width, height = view
    for text, x, y, w, h in labels:
        assert x >= -0.5 and y >= -0.5 and x + w <= width + 0.5 and y + h <= height + 0.5, (
            text, x, y, w, h)
    for i, (ta, xa, ya, wa, ha) in enumerate(labels):
        for tb, xb, yb, wb, hb in labels[i + 1:]:
            apart = xa + wa <= xb or xb + wb <= xa or ya + ha <= yb or yb + hb <= ya
            assert apart, (ta, tb, labels)
    run.shot(page, "dashboard-crowded-labels.png")


def test_a_long_queue_cell_stays_inside_its_table_and_tile(page, crowded):
    crowded.locator("tr[data-zone='queue-left']").wait_for()
    # set and measured in one task: the next poll redraws the table
    sizes = page.eval_on_selector(_tile("crowded"), """tile => {
        const cell = tile.querySelector("tr[data-zone='queue-left'] td:last-child");
        cell.textContent = "queue 12 · est. wait " + "9".repeat(80) + ".5 min";
        const pad = parseFloat(getComputedStyle(tile).paddingRight);
        return {tile: tile.getBoundingClientRect().right - pad,
                table: tile.querySelector("table.counts").getBoundingClientRect().right,
                cell: cell.getBoundingClientRect().right,
                overflow: cell.scrollWidth - cell.clientWidth};
    }""")
    assert sizes["table"] <= sizes["tile"] + 0.5 and sizes["cell"] <= sizes["tile"] + 0.5, sizes
    assert sizes["overflow"] <= 0, sizes


def test_inference_page_draws_the_boxes_of_a_photo(run, page):
    photo = run.tmp / "astronaut.jpg"
    photo.write_bytes(encode(astronaut_rgb()))
    page.goto(f"{run.url}/inference")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#boxes rect.box")
    boxes = page.locator("#boxes rect.box")
    assert boxes.count() > 0
    assert "person" in [boxes.nth(i).get_attribute("data-label") for i in range(boxes.count())]
    assert "detection" in page.locator("#status").inner_text()
    run.shot(page, "inference.png")


def test_the_api_docs_render_from_this_server_alone(run, chromium):
    """/docs is Swagger UI with its files served by the API (FastAPI's page loads them
    from a CDN: blank on a site without internet, as this test's browser is)."""
    context = chromium.new_context(extra_http_headers={"Authorization": f"Bearer {TOKEN}"})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    asked: list[str] = []
    tab.on("request", lambda r: asked.append(r.url))
    tab.goto(f"{run.url}/docs")
    tab.wait_for_selector(".swagger-ui .info .title")
    assert "OAS 3.1" in tab.locator(".swagger-ui .info .title").inner_text()  # read whole
    assert tab.locator(".opblock-summary-path", has_text="/v1/detect").count() >= 1
    assert all(u.startswith(run.url) for u in asked), asked
    context.close()


def test_the_camera_password_never_reaches_the_browser(run, page):
    page.goto(f"{run.url}/")
    page.wait_for_selector(_tile("steady-a"))
    assert PASSWORD not in page.content()
    assert len(run.bodies) > 20
    leaks = [body[:200] for body in run.bodies if PASSWORD.encode() in body]
    assert not leaks, leaks
