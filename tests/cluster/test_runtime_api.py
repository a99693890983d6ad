"""The runtime camera API of `panoray run`, as an operator uses it: a separate process with
its own Ray, a token from the environment, real HTTP, real video."""

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

from tests.conftest import assert_no_traceback, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
TOKEN = "test-token-" + "k" * 24
PASSWORD = "s3cr3tpass"
SECRET_URL = f"rtsp://user:{PASSWORD}@127.0.0.1:9/x"  # nothing listens: it reconnects
ZONE = {"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}
LINE = {"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66],
        "left_to_right": "westward", "right_to_left": "eastward"}
STEADY = ("steady-a", "steady-b", "steady-c")
MAX_GAP_S = 3.0  # longest a running camera may go without a new delivered frame
LOAD_DROPS = 2  # frames one live camera may drop to load beyond another in a test step
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(extra)
    return env


class Run:
    """A `panoray run` process and its base URL, log and output folder."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.media = tmp / "media"
        self.media.mkdir()
        shutil.copy(CLIP, self.media / "clip.mp4")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = tmp / "out"
        self.log_path = tmp / "run.log"
        config = {
            # the steady cameras take little CPU, so that cameras added later still fit
            # beside them on 2 cores (each asks for the default 0.25)
            "cameras": [{"id": cid, "url": str(CLIP), "mode": "live", "target_fps": 5,
                         "zones": [ZONE], "lines": [LINE], "source": {"loop": True},
                         "placement": {"num_cpus": 0.1}}
                        for cid in STEADY],
            "analytics": {"window_s": 5, "window_grace_s": 2, "min_distinct_tracks": 1},
            "http": {"port": self.port, "token_env": "PANORAY_API_TOKEN",
                     "media_roots": ["media"],  # relative: resolved against the config's folder
                     "allowed_hosts": ["*", "127.0.0.1/32"]},  # SECRET_URL is on loopback
            "serving": {"batch_wait_timeout_s": 0.02},
        }
        (tmp / "site.yaml").write_text(json.dumps(config))  # JSON is YAML
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(tmp / "site.yaml"), "--output",
             str(self.out)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            env=_env(PANORAY_API_TOKEN=TOKEN),
        )
        self.bodies: list[str] = []  # every response body, scanned for the password

    def text(self) -> str:
        return self.log_path.read_text()

    def request(self, method: str, path: str, **kw) -> requests.Response:
        r = requests.request(method, f"{self.url}{path}", timeout=120, **kw)
        self.bodies.append(r.text)
        return r

    def camera(self, cid: str) -> dict:
        r = self.request("GET", f"/v1/cameras/{cid}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_for(self, what: str, check, timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.text()[-4000:]
            try:
                value = check()
            except (requests.RequestException, AssertionError, KeyError):
                value = None
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}\n{self.text()[-4000:]}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = Run(tmp_path_factory.mktemp("runtime-api"))
    try:
        run.wait_for("the cameras streaming", lambda: all(
            run.camera(cid)["state"] == "streaming" and run.camera(cid)["frames_delivered"] > 0
            for cid in STEADY), timeout=240)
        yield run
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=120) == 128 + signal.SIGTERM, run.text()[-4000:]
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run.log.close()


def test_reads_list_the_cameras_without_a_token(run):
    r = run.request("GET", "/v1/cameras")
    assert r.status_code == 200
    cams = {c["id"]: c for c in r.json()["cameras"]}
    assert set(STEADY) <= set(cams)
    a = cams["steady-a"]
    assert a["added_by"] == "config" and a["restarts"] == 0 and a["url"] == str(CLIP)
    assert a["config"]["zones"][0]["id"] == "path-west"
    for key in ("state", "reason", "fps", "frames_decoded", "frames_delivered",
                "frames_dropped", "reconnects", "node_id"):
        assert key in a, key
    missing = run.request("GET", "/v1/cameras/nope")
    assert missing.status_code == 404 and "no camera 'nope'" in missing.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "message", "challenge"),
    [
        ("POST", "/v1/cameras", {}, "needs the API token", 'Bearer realm="panoray"'),
        ("POST", "/v1/cameras", {"Authorization": "Bearer wrong-token"},
         "the bearer token is not valid", 'Bearer realm="panoray", error="invalid_token"'),
        ("POST", "/v1/cameras", {"Authorization": f"Basic {TOKEN}"}, "needs the API token",
         'Bearer realm="panoray"'),
        ("DELETE", "/v1/cameras/steady-a", {}, "needs the API token", 'Bearer realm="panoray"'),
        ("DELETE", "/v1/cameras/steady-a", {"Authorization": f"Bearer {TOKEN}-"},
         "the bearer token is not valid", 'Bearer realm="panoray", error="invalid_token"'),
    ],
)
def test_state_changes_without_the_token_are_refused(run, method, path, headers, message,
                                                     challenge):
    body = {"id": "intruder", "url": str(run.media / "clip.mp4")}
    r = run.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert message in r.json()["error"]
    assert r.headers["WWW-Authenticate"] == challenge
    assert run.request("GET", "/v1/cameras/intruder").status_code == 404
    assert run.camera("steady-a")["state"] == "streaming"


@pytest.mark.parametrize(
    ("camera", "status", "message"),
    [
        ({"id": "x", "url": "{clip}"}, 400, "'{clip}' is outside http.media_roots"),
        ({"id": "x", "url": "{media}/../outside.mp4"}, 400,
         "'{media}/../outside.mp4' is outside http.media_roots"),
        ({"id": "x", "url": "{media}/link.mp4"}, 400,
         "'{media}/link.mp4' is outside http.media_roots"),
        ({"id": "x", "url": "rtsp://127.0.0.2:8000/x"}, 400, "127.0.0.2 is a loopback address"),
        ({"id": "x", "url": "http://169.254.169.254/latest/"}, 400, "is a link-local address"),
        ({"id": "x", "url": "clip.mp4"}, 400, "nor an absolute file path"),
        ({"id": "x", "url": 0}, 400, "local capture devices cannot be added through the API"),
        ({"id": "x", "url": "ftp://10.0.0.5/clip.mp4"}, 400, "URL scheme 'ftp' is not allowed"),
        ({"id": "x", "url": "{media}/missing.mp4"}, 400, "does not exist"),
        ({"id": "bad id", "url": SECRET_URL}, 400,
         "invalid camera: id: String should match pattern"),
        ({"id": "x"}, 400, "invalid camera: url: Field required"),
        ({"id": "x", "url": SECRET_URL, "zones": [{"id": "z", "points": [[0, 0], [1, 1]]}]}, 400,
         "a polygon needs at least 3 points, got 2"),
        ({"id": "x", "url": SECRET_URL, "placement": {"resources": {"no-such-node": 1}}}, 400,
         "no node of the cluster has the resource(s) ['no-such-node']"),
        ({"id": "steady-a", "url": SECRET_URL}, 409, "camera 'steady-a' already exists"),
    ],
)
def test_bad_cameras_are_refused_with_the_reason(run, camera, status, message):
    if not (run.media / "link.mp4").exists():
        (run.media / "link.mp4").symlink_to(CLIP)
        (run.tmp / "outside.mp4").write_bytes(CLIP.read_bytes()[:4096])
    media = os.path.realpath(run.media)
    fill = {"clip": str(CLIP), "media": media,
            "outside": os.path.realpath(run.tmp / "outside.mp4")}
    camera = {k: v.format(**fill) if isinstance(v, str) and k == "url" else v
              for k, v in camera.items()}
    r = run.request("POST", "/v1/cameras", json=camera, headers=AUTH)
    assert r.status_code == status, r.text
    assert message.format(**fill) in r.json()["error"], r.json()
    assert_no_traceback(r.text)
    assert PASSWORD not in r.text
    if str(camera.get("url", "")).startswith(media):  # never the path it resolves to
        assert str(CLIP) not in r.text and fill["outside"] not in r.text


def test_camera_body_must_be_json(run):
    r = run.request("POST", "/v1/cameras", data="id: x",
                    headers={**AUTH, "content-type": "text/yaml"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    r = run.request("POST", "/v1/cameras", data="{",
                    headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = run.request("DELETE", "/v1/cameras/nope", headers=AUTH)
    assert r.status_code == 404 and "no camera 'nope'" in r.json()["error"]


def test_add_and_remove_under_load_never_disturbs_the_others(run):
    seen: dict[str, list[tuple[float, int]]] = {cid: [] for cid in STEADY}

    def sample() -> None:
        for cid in STEADY:
            seen[cid].append((time.monotonic(), run.camera(cid)["frames_delivered"]))

    def sample_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sample()
            time.sleep(0.4)

    sample_for(2)
    new = {"id": "newcomer", "url": str(run.media / "clip.mp4"), "mode": "live", "target_fps": 5,
           "lines": [LINE], "source": {"loop": True}}
    r = run.request("POST", "/v1/cameras", json=new, headers=AUTH)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["added_by"] == "api" and added["url"] == os.path.realpath(run.media / "clip.mp4")
    deadline = time.monotonic() + 60
    while run.camera("newcomer")["frames_delivered"] < 10:
        assert time.monotonic() < deadline, run.camera("newcomer")
        sample()
        time.sleep(0.4)
    listed = {c["id"] for c in run.request("GET", "/v1/cameras").json()["cameras"]}
    assert listed == {*STEADY, "newcomer"}
    live = run.request("GET", "/v1/live").json()["cameras"]
    assert "lamp-post" in live["newcomer"]["lines"]
    sample_for(2)
    r = run.request("DELETE", "/v1/cameras/newcomer", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["removed"] is True and r.json()["frames_delivered"] >= 10
    assert run.request("GET", "/v1/cameras/newcomer").status_code == 404
    sample_for(3)

    for cid, samples in seen.items():
        counts = [n for _, n in samples]
        assert counts == sorted(counts), f"{cid}: a counter went backwards: {counts}"
        assert counts[-1] > counts[0]
        last_change, last = samples[0]
        for t, n in samples[1:]:
            if n > last:
                last_change, last = t, n
            assert t - last_change <= MAX_GAP_S, (
                f"{cid}: no frame delivered for {t - last_change:.1f} s while a camera was "
                f"added or removed: {samples}")


def test_live_shows_occupancy_and_counts_per_camera_zone_and_line(run):
    live = run.request("GET", "/v1/live").json()
    assert set(STEADY) <= set(live["cameras"])
    a = live["cameras"]["steady-a"]
    assert a["state"] == "streaming" and a["pts_s"] > 0
    zone = a["zones"]["path-west"]
    assert {"occupancy", "visits_total", "exits_total", "queue"} <= set(zone)
    assert set(a["lines"]["lamp-post"]) == {"westward", "eastward"}
    assert live["events_total"] >= 0


EAST = {"id": "path-east", "points": [[0.5, 0.28], [1.0, 0.28], [1.0, 0.62], [0.5, 0.62]]}
MOVED = {**LINE, "start": [0.3, 0.2], "end": [0.3, 0.66]}


@pytest.mark.parametrize(("path", "body", "headers", "status", "message"), [
    ("steady-b", {"zones": [ZONE]}, {}, 401, "needs the API token"),
    ("steady-b", "zones: []", {**AUTH, "content-type": "text/yaml"}, 415, "application/json"),
    ("steady-b", {"zones": [{"id": "z", "points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}, AUTH,
     400, "invalid geometry of camera 'steady-b': zones.0.points: polygon is "
     "self-intersecting: edge 0 crosses edge 2"),
    ("steady-b", {"lines": [{"id": "l", "start": [0, 0], "end": [2, 0]}]}, AUTH, 400,
     "normalized coordinates must lie in [0, 1]"),
    ("steady-b", {"lines": [{"id": "l", "units": "pixel", "start": [0, 0], "end": [5000, 0]}]},
     AUTH, 400, "lies outside the 768x576 frame"),
    ("steady-b", {"zones": [], "version": 7}, AUTH, 409,
     "the edit was made on geometry_version 7, but the camera is at version 0"),
    ("nope", {"zones": []}, AUTH, 404, "no camera 'nope'"),
])
def test_bad_geometry_edits_are_refused_with_the_reason(run, path, body, headers, status,
                                                        message):
    kw = {"data": body} if isinstance(body, str) else {"json": body}
    r = run.request("PUT", f"/v1/cameras/{path}/geometry", headers=headers, **kw)
    assert r.status_code == status, r.text
    assert message in r.json()["error"], r.json()
    assert_no_traceback(r.text)
    if path != "nope":
        assert run.camera(path)["geometry_version"] == 0


def test_a_geometry_edit_while_three_cameras_stream_drops_no_frame_and_the_next_window_uses_it(
        run):
    counters = ("frames_failed", "forward_errors", "results_evicted")  # drops: see below
    before = {cid: run.camera(cid) for cid in STEADY}
    assert all(c["state"] == "streaming" and c["geometry_version"] == 0 for c in before.values())
    seen: dict[str, list[tuple[float, int]]] = {cid: [] for cid in STEADY}

    def sample() -> None:
        for cid in STEADY:
            seen[cid].append((time.monotonic(), run.camera(cid)["frames_delivered"]))

    def windows_of(cid: str) -> list[dict]:
        return run.request("GET", "/v1/history", params={"camera_id": cid}).json()["cameras"][cid]

    sample()
    r = run.request("PUT", "/v1/cameras/steady-b/geometry", headers=AUTH,
                    json={"zones": [ZONE, EAST], "lines": [MOVED], "version": 0})
    assert r.status_code == 200, r.text
    assert r.json()["geometry_version"] == 1 and r.json()["state"] == "streaming"
    assert [z["id"] for z in r.json()["config"]["zones"]] == ["path-west", "path-east"]
    deadline = time.monotonic() + 60  # a 5 s window to end, its 2 s grace, the next to close
    while not any(w["geometry_version"] == 1 for w in windows_of("steady-b")):
        assert time.monotonic() < deadline, windows_of("steady-b")
        sample()
        time.sleep(0.4)
    sample()
    after = {cid: run.camera(cid) for cid in STEADY}
    for cid in STEADY:  # no camera restarted, dropped or lost a frame
        assert after[cid]["state"] == "streaming" and after[cid]["restarts"] == 0
        assert {k: after[cid][k] for k in counters} == {k: before[cid][k] for k in counters}, cid
        last_change, last = seen[cid][0]
        for t, n in seen[cid][1:]:
            if n > last:
                last_change, last = t, n
            assert t - last_change <= MAX_GAP_S, (cid, seen[cid])
    # live cameras on a busy shared 2-core machine drop frames whatever happens (CI saw
    # an unedited one drop 31 before the edit and 3 during it, and the edited one 10
    # while both others dropped 6): the edited camera may drop no more than twice the
    # unedited ones beside it, the control (a restart, or a stall, is caught above)
    dropped = {cid: after[cid]["frames_dropped"] - before[cid]["frames_dropped"]
               for cid in STEADY}
    control = max(dropped["steady-a"], dropped["steady-c"])
    assert dropped["steady-b"] <= 2 * control + LOAD_DROPS, dropped
    listed = {c["id"]: c["geometry_version"] for c in run.request("GET", "/v1/cameras").json()[
        "cameras"] if c["id"] in STEADY}
    assert listed == {"steady-a": 0, "steady-b": 1, "steady-c": 0}
    # the window open at the edit closed early with the old geometry; the next one, right
    # after it, counts every frame with the new one
    ws = windows_of("steady-b")
    first = next(i for i, w in enumerate(ws) if w["geometry_version"] == 1)
    old, new = ws[first - 1], ws[first]
    assert (old["geometry_version"], old["complete"]) == (0, False)
    assert old["end_s"] == new["start_s"] and new["complete"]
    assert {r["element_id"] for r in old["rows"]} == {"path-west", "lamp-post"}
    assert [r["element_id"] for r in new["rows"]] == ["path-west", "path-east", "lamp-post"]
    assert new["frames"] > 0 and new["coverage"] > 0.9
    assert all(w["geometry_version"] == 0 for w in windows_of("steady-a"))
    live = run.request("GET", "/v1/live").json()["cameras"]["steady-b"]
    assert set(live["zones"]) == {"path-west", "path-east"}


def test_credentials_are_redacted_in_every_response_and_log_line(run):
    r = run.request("POST", "/v1/cameras", json={"id": "secret-cam", "url": SECRET_URL,
                                                 "reconnect": {"max_s": 1.0}}, headers=AUTH)
    assert r.status_code == 201, r.text
    redacted = "rtsp://user:***@127.0.0.1:9/x"
    assert r.json()["url"] == redacted and r.json()["config"]["url"] == redacted
    cam = run.wait_for("the camera to reconnect", lambda: (
        c := run.camera("secret-cam"))["state"] == "reconnecting" and c["reconnects"] >= 1 and c)
    assert cam["url"] == redacted and cam["last_error"]
    run.request("GET", "/v1/cameras")
    run.request("GET", "/v1/live")
    r = run.request("DELETE", "/v1/cameras/secret-cam", headers=AUTH)
    assert r.status_code == 200 and r.json()["url"] == redacted
    leaks = [body for body in run.bodies if PASSWORD in body]
    assert not leaks, leaks[:3]
    assert PASSWORD not in run.text()


def test_the_run_log_never_shows_the_password_and_the_summary_counts_removed_cameras(run):
    # runs last in this module: stop the run and read everything it printed
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(timeout=120) == 128 + signal.SIGTERM, run.text()[-4000:]
    text = run.text()
    assert PASSWORD not in text
    summary = json.loads(text[text.index("{\n"):text.rindex("}") + 1])
    assert summary["cameras"]["newcomer"]["added_by"] == "api"
    assert summary["cameras"]["secret-cam"]["frames_delivered"] == 0
    assert summary["cameras"]["steady-a"]["state"] == "stopped"
    assert "camera secret-cam added (rtsp://user:***@127.0.0.1:9/x)" in text


@pytest.mark.parametrize(
    ("http", "env", "message"),
    [
        ({"host": "0.0.0.0"}, {}, "http.host: the runtime API would listen on '0.0.0.0', which "
         "is not a loopback address, without a token"),
        ({"token_env": "PANORAY_TEST_NO_SUCH_TOKEN"}, {}, "http.token_env: environment "
         "variable PANORAY_TEST_NO_SUCH_TOKEN is not set or empty"),
        ({"host": "0.0.0.0", "token_env": "PANORAY_API_TOKEN"}, {"PANORAY_API_TOKEN": "short"},
         "is 5 characters; use at least 16"),
    ],
)
def test_unsafe_exposure_is_a_config_error_at_startup(tmp_path, http, env, message):
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps({"cameras": [{"id": "a", "url": str(CLIP)}], "http": http}))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pipeline", "run", str(path)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env=_env(**env))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "short" not in result.stderr
    assert time.monotonic() - started < 30  # refused before Ray starts


@pytest.mark.cluster
def test_runtime_api_without_a_pipeline_says_so(serve_app):
    r = requests.get(f"{serve_app['url']}/v1/cameras", timeout=30)
    assert r.status_code == 503
    assert "no pipeline is running" in r.json()["error"]
    assert "panoray run" in r.json()["error"]
