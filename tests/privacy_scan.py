"""Scanners for everything that leaves the pipeline, used to verify the privacy promises.

Pure functions over bytes, files, images and rows: no Ray, no network. Each check returns
what it found (an empty list when the promise holds), so a test can print every
violation at once. tests/unit/test_privacy_scan.py proves each of them catches what it is
meant to catch; tests/cluster/test_privacy.py runs them over a real run.

- Secrets: :func:`find_secrets` looks for a secret as is, URL-encoded, form-encoded, hex
  and base64 at any alignment (how an HTTP Basic header would carry ``user:password``),
  in raw bytes and in what :func:`file_texts` extracts (every Parquet cell and metadata
  value, PNG text chunks).
- Blurring: :func:`detail_retained` measures how much of an original image's fine
  detail (its high-frequency energy: what a 5 x 5 median filter takes away) survives, in
  place, in an image that left the pipeline; :func:`check_regions` applies it to
  people's boxes and :func:`heatmap_background` removes a heatmap's colour overlay first.
- Raw frames: :func:`raw_media_findings` (video and photo files, frame-sized buffers,
  frame-shaped arrays, large binary cells) and :class:`ClipMatcher`, which finds the clip
  frames an image may have been made from.
- Tables: :func:`suppression_violations`, :func:`heatmap_cell_violations`,
  :func:`retention_violations`, :func:`track_id_violations`.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import cv2
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.analytics.events import WindowMetrics
from pipeline.analytics.heatmap import render_heatmap

SECONDS_PER_DAY = 86400.0
MAX_DETAIL_RETAINED = 0.1
"""An image (or a person's region in it) is blurred when at most this fraction of the
original's fine detail survives in it, in place (see :func:`detail_retained`). Measured
over 750 people of the demo clip at still size (640 px): an untouched copy kept 0.82-1.0,
a JPEG of quality 50 0.6-0.94, a copy at half contrast 0.25, a Gaussian blur of sigma
0.7 px 0.2-0.55 and of sigma 1 px 0.07-0.31; the pipeline's stills (people pixelated,
the whole still blurred with sigma 3 px, people pixelated again, JPEG) at most 0.016."""
MEDIAN_SIDE = 5
"""Fine detail is what a median filter of this side (pixels) removes: texture, thin lines
and small spots. Edges, smooth ramps and pixelation blocks of 3 px or more pass through
it, so blurring and pixelation both leave no fine detail."""
MIN_REGION_ENERGY = 10.0
"""Fine-detail energy (variance, grey levels squared) below which an original region has
no detail to hide (a flat wall: sensor noise alone is about 2); such regions are not
judged. People in the demo clip have 30-600."""
MIN_REGION_SIDE = 6
"""Regions narrower or lower than this (pixels of the checked image) are not judged."""
MIN_SECRET_FORM = 4
"""Encoded forms shorter than this many bytes are not searched (they match by chance)."""
RAW_MEDIA_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".bmp", ".ppm", ".pgm", ".pnm", ".tif", ".tiff", ".webp",
    ".gif", ".heic", ".mp4", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".ts", ".flv",
    ".h264", ".h265", ".hevc", ".mjpg", ".mjpeg", ".yuv", ".raw", ".rgb", ".bgr",
})
"""File types that hold photos or video: nothing the pipeline writes should be one."""
MAX_BINARY_CELL = 1024
"""A binary Parquet cell this long (bytes) or longer could hold an image."""


@dataclass(frozen=True)
class Finding:
    """One violation: where it was found and what it is."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


# -- secrets ---------------------------------------------------------------------------


def secret_forms(secret: str) -> dict[str, bytes]:
    """The byte strings that reveal ``secret``, by the encoding that produces them.

    Base64 is searched at the three alignments a secret can have inside a longer encoded
    text (``user:password`` in a Basic header), keeping only the characters that depend
    on the secret's bytes alone.
    """
    raw = secret.encode()
    forms = {
        "as is": raw,
        "URL-encoded": quote(secret, safe="").encode(),
        "URL-encoded (lower-case hex)": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")
        ).encode(),
        "form-encoded": quote_plus(secret).encode(),
        "hex": raw.hex().encode(),
        "JSON-escaped": json.dumps(secret)[1:-1].encode(),
    }
    for shift in range(3):
        first = -(-8 * shift // 6)  # the first character made of the secret's bits only
        last = 8 * (shift + len(raw)) // 6
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            forms[f"{name} (offset {shift})"] = encode(b"\0" * shift + raw)[first:last]
    return {name: form for name, form in forms.items() if len(form) >= MIN_SECRET_FORM}


def find_secrets(data: bytes | str, secrets: Mapping[str, str], where: str) -> list[Finding]:
    """Every secret found in ``data``, in any form of :func:`secret_forms`.

    Args:
        data: the bytes or text to search.
        secrets: name -> secret value (for example ``{"camera password": "s3cr3t"}``).
        where: names the place in the findings.
    """
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    found = []
    for name, secret in secrets.items():
        for form_name, form in secret_forms(secret).items():
            if form in blob:
                found.append(Finding(where, f"{name} ({form_name})"))
                break
    return found


def png_texts(data: bytes) -> list[bytes]:
    """The text a PNG carries beside its pixels: tEXt, zTXt (inflated), iTXt and eXIf."""
    out: list[bytes] = []
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return out
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind in (b"tEXt", b"eXIf"):
            out.append(body)
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            out.append(key + b"\0" + _inflate(rest[1:]))
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, text = rest[:1] == b"\1", rest[2:]
            out.append(key + b"\0" + (_inflate(text.split(b"\0", 2)[-1]) if compressed else text))
    return out


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:
        return data


def parquet_texts(path: Path) -> list[bytes]:
    """Every cell of every column of a Parquet file as text, plus its metadata."""
    table = pq.read_table(path)
    out = [str(value).encode("utf-8", "surrogateescape")
           for column in table.columns for value in column.to_pylist()]
    for meta in (pq.read_metadata(path).metadata, table.schema.metadata):
        for key, value in (meta or {}).items():
            out.append(key + b"=" + value)
    return out


def file_texts(path: Path) -> Iterator[bytes]:
    """A file's raw bytes, then what its format hides from a plain byte search
    (compressed Parquet values, compressed PNG text)."""
    data = path.read_bytes()
    yield data
    if path.suffix == ".parquet":
        yield from parquet_texts(path)
    elif data.startswith(b"\x89PNG"):
        yield from png_texts(data)


def scan_files_for_secrets(paths: Iterable[Path], secrets: Mapping[str, str]) -> list[Finding]:
    """:func:`find_secrets` over every file's :func:`file_texts`."""
    found: list[Finding] = []
    for path in paths:
        for text in file_texts(path):
            hits = find_secrets(text, secrets, str(path))
            if hits:
                found += hits
                break
    return found


def files_under(*roots: Path) -> list[Path]:
    """Every regular file below ``roots`` (sockets, links and the like left out), sorted."""
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*")
                  if p.is_file() and not p.is_symlink())


# -- images ----------------------------------------------------------------------------


def fine_detail(image: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """An image's fine detail: its grey levels minus their :data:`MEDIAN_SIDE` median,
    mean removed, flattened."""
    img = np.asarray(image, np.float32)
    grey = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img)
    detail = (grey - cv2.medianBlur(grey, MEDIAN_SIDE)).ravel().astype(np.float64)
    return detail - detail.mean()


def hf_energy(image: npt.NDArray[Any]) -> float:
    """High-frequency energy of an image: the variance of its :func:`fine_detail`."""
    detail = fine_detail(image)
    return float(detail @ detail / max(1, detail.size))


def detail_retained(image: npt.NDArray[Any], original: npt.NDArray[Any]) -> float:
    """The fraction of ``original``'s high-frequency energy that survives in ``image``
    in the same places.

    With ``h`` and ``o`` the :func:`fine_detail` of the two images (same size), this is
    ``max(0, <h, o> / <o, o>) ** 2``: the energy of the part of ``h`` that is ``o``'s
    detail, relative to ``o``'s energy. An unchanged copy keeps 1.0, one at half the
    contrast 0.25, a blurred or pixelated one close to 0. (A plain ratio of energies, or
    one of Laplacians, counts the block edges of pixelation as detail: over a blurred
    person, pixelation blocks made a Laplacian keep up to 0.2 of the person's.)

    Args:
        image, original: (h, w) grey or (h, w, 3) BGR images of one size, any dtype.
    """
    if np.shape(image)[:2] != np.shape(original)[:2]:
        raise ValueError(f"sizes differ: {np.shape(image)} and {np.shape(original)}")
    h, o = fine_detail(image), fine_detail(original)
    energy = float(o @ o)
    if energy == 0.0:
        return 0.0
    return max(0.0, float(h @ o) / energy) ** 2


@dataclass(frozen=True)
class RegionCheck:
    """How much detail of one region of the original survives in the checked image.

    Attributes:
        box: (x1, y1, x2, y2) integer pixels of the checked image.
        detail: :func:`detail_retained` of the region.
        original_energy: :func:`hf_energy` of the region in the original.
        judged: False when the region is too small or too flat to judge.
        blurred: True when not judged or ``detail <= MAX_DETAIL_RETAINED``.
    """

    box: tuple[int, int, int, int]
    detail: float
    original_energy: float
    judged: bool
    blurred: bool


def check_regions(
    image: npt.NDArray[Any],
    original: npt.NDArray[Any],
    boxes: npt.ArrayLike,
    max_detail: float = MAX_DETAIL_RETAINED,
) -> list[RegionCheck]:
    """Checks that every box of ``original`` is blurred in ``image`` (same size).

    Args:
        image: the image that left the pipeline.
        original: the frame it was made from, resized to ``image``'s size.
        boxes: (n, 4) xyxy boxes in ``image``'s pixels (for example people).
        max_detail: the most detail a region may keep.
    """
    h, w = np.shape(image)[:2]
    out = []
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        ix1, iy1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        ix2, iy2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        box = (ix1, iy1, ix2, iy2)
        if ix2 - ix1 < MIN_REGION_SIDE or iy2 - iy1 < MIN_REGION_SIDE:
            out.append(RegionCheck(box, 0.0, 0.0, False, True))
            continue
        region, reference = image[iy1:iy2, ix1:ix2], original[iy1:iy2, ix1:ix2]
        energy = hf_energy(reference)
        detail = detail_retained(region, reference)
        judged = energy >= MIN_REGION_ENERGY
        out.append(RegionCheck(box, detail, energy, judged, not judged or detail <= max_detail))
    return out


def heatmap_background(
    png_bgr: npt.NDArray[np.uint8], counts: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """The still under a heatmap PNG, with the colour of the non-empty cells taken off.

    :func:`pipeline.analytics.heatmap.render_heatmap` draws ``still * (1 - a) + colour * a``
    over every non-empty cell (``a`` its default alpha); the colour is a function of the
    counts, so it is drawn again here and removed. Outside the cells the PNG is the still.

    Args:
        png_bgr: the decoded heatmap PNG.
        counts: the window's counts (its .npy).
    """
    alpha = inspect.signature(render_heatmap).parameters["alpha"].default
    colour = cv2.imdecode(
        np.frombuffer(render_heatmap(counts, np.zeros_like(png_bgr), alpha=1.0), np.uint8),
        cv2.IMREAD_COLOR,
    )
    mask = colour.any(axis=2)  # no colour of the map is black
    out = png_bgr.astype(np.float32)
    # render_heatmap truncates to uint8: the drawn value lay in [png, png + 1)
    out[mask] = (out[mask] + 0.5 - alpha * colour[mask]) / (1.0 - alpha)
    return np.clip(out, 0.0, 255.0)


def _thumbnail(image: npt.NDArray[Any], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    img = np.asarray(image, np.float32)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), 1.0)


class ClipMatcher:
    """Finds, for each of some images, the frames of a clip they most resemble.

    Frames are fed one by one (a clip does not fit in memory); for every image the
    ``keep`` closest frames are kept at full size. Closeness is the mean squared
    difference of small blurred grey thumbnails, so a blurred still still finds its frame,
    and an unblurred copy of a frame finds exactly that frame.

    Args:
        images: name -> (h, w, 3) image to match.
        keep: closest frames kept per image.
        thumb_width: width of the thumbnails compared.
    """

    def __init__(self, images: Mapping[str, npt.NDArray[Any]], keep: int = 3,
                 thumb_width: int = 160) -> None:
        self.keep = keep
        self._thumbs: dict[str, tuple[tuple[int, int], npt.NDArray[np.float32]]] = {}
        for name, image in images.items():
            h, w = np.shape(image)[:2]
            size = (thumb_width, max(1, round(thumb_width * h / w)))
            self._thumbs[name] = (size, _thumbnail(image, size))
        self._best: dict[str, list[tuple[float, int, npt.NDArray[np.uint8]]]] = {
            name: [] for name in images}

    def add(self, index: int, frame: npt.NDArray[np.uint8]) -> None:
        """Offers frame ``index`` of the clip."""
        cache: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
        for name, (size, thumb) in self._thumbs.items():
            if size not in cache:
                cache[size] = _thumbnail(frame, size)
            score = float(np.mean((cache[size] - thumb) ** 2))
            best = self._best[name]
            if len(best) < self.keep or score < best[-1][0]:
                best.append((score, index, frame))
                best.sort(key=lambda item: item[0])
                del best[self.keep:]

    def matches(self, name: str) -> list[tuple[int, npt.NDArray[np.uint8]]]:
        """The closest frames to image ``name``, closest first, as (index, frame)."""
        return [(index, frame) for _, index, frame in self._best[name]]


# -- raw frames ------------------------------------------------------------------------


def raw_media_findings(
    paths: Iterable[Path], frame_sizes: Iterable[tuple[int, int]]
) -> list[Finding]:
    """Files that hold, or could hold, a frame, apart from PNG images (judge those by
    their content, with :func:`detail_retained`).

    Flags: photo and video files by suffix; files exactly the size of an uncompressed
    frame (grey, YUV 4:2:0, 16-bit, BGR or BGRA) of one of ``frame_sizes`` that are not
    UTF-8 text (a log can have any size); .npy arrays
    of uint8 with 3 or 4 channels or of a frame's height and width, and pickled ones;
    Parquet cells of binary data of :data:`MAX_BINARY_CELL` bytes or more.

    Args:
        paths: the files.
        frame_sizes: (width, height) of the cameras' frames.
    """
    sizes = {(int(w), int(h)) for w, h in frame_sizes}
    buffer_bytes = {int(w * h * c) for w, h in sizes for c in (1, 1.5, 2, 3, 4)}
    shapes = {(h, w) for w, h in sizes}
    found = []
    for path in paths:
        where = str(path)
        if path.suffix.lower() in RAW_MEDIA_SUFFIXES:
            found.append(Finding(where, f"a {path.suffix} file (photo or video)"))
        if path.stat().st_size in buffer_bytes and not _is_text(path):
            found.append(Finding(where, f"{path.stat().st_size} bytes: the size of a raw frame"))
        if path.suffix == ".npy":
            found += _npy_findings(path, shapes)
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            for field, column in zip(table.schema, table.columns, strict=True):
                if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
                    longest = max((len(v) for v in column.to_pylist() if v is not None), default=0)
                    if longest >= MAX_BINARY_CELL:
                        found.append(Finding(where, f"binary column {field.name!r} holds "
                                             f"{longest}-byte values"))
    return found


def _is_text(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _npy_findings(path: Path, frame_shapes: set[tuple[int, int]]) -> list[Finding]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:
        return [Finding(str(path), "a pickled .npy (objects, not counts)")]
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] in (3, 4):
        return [Finding(str(path), f"a uint8 image array of shape {array.shape}")]
    if tuple(array.shape[:2]) in frame_shapes:
        return [Finding(str(path), f"an array of a frame's shape {array.shape}")]
    return []


# -- tables ----------------------------------------------------------------------------

METRIC_VALUE_FIELDS = tuple(f.name for f in dataclasses.fields(WindowMetrics)
                            if f.default is None
                            and f.name not in ("window_start_at", "coverage"))
"""Columns of a metrics row that a suppressed row must leave empty (``coverage`` is the
camera's, like ``frames``: how much of the window it delivered, nothing about people)."""
COUNT_FIELDS = ("lr_count", "rl_count", "occupancy_mean", "occupancy_max", "visits", "exits",
                "queue_length_mean", "queue_length_max", "wait_count")
"""Columns that must be 0 (or empty) in a published row covering no track."""


def suppression_violations(rows: Iterable[Mapping[str, Any]], k: int) -> list[str]:
    """Metrics rows that publish an aggregate of 1..k-1 distinct tracks.

    A suppressed row must leave every value column (:data:`METRIC_VALUE_FIELDS`) empty; a
    published row must say how many distinct tracks it covers, that must be 0 or at least
    ``k``, and a row covering none must count nothing.

    Args:
        rows: metrics rows (Parquet rows as dicts, or JSON objects from an API).
        k: ``analytics.min_distinct_tracks``.
    """
    bad = []
    for i, row in enumerate(rows):
        name = f"row {i} ({row.get('camera_id')}, {row.get('element_id')}, " \
               f"window {row.get('window_start_s')})"
        n = row.get("distinct_tracks")
        if row.get("suppressed"):
            shown = {f: row[f] for f in METRIC_VALUE_FIELDS if row.get(f) is not None}
            if shown:
                bad.append(f"{name} is marked suppressed but publishes {shown}")
        elif n is None:
            bad.append(f"{name} is published without distinct_tracks")
        elif 0 < n < k:
            bad.append(f"{name} publishes an aggregate of {n} distinct track(s), below k={k}")
        elif n == 0:
            counted = {f: row[f] for f in COUNT_FIELDS if row.get(f) not in (None, 0, 0.0)}
            if counted:
                bad.append(f"{name} covers no track but counts {counted}")
    return bad


def metric_rows_in(document: Any) -> list[Mapping[str, Any]]:
    """Every JSON object inside ``document`` that looks like a metrics row (it has
    ``suppressed`` and names its zone or line, or its distinct tracks), for checking API
    answers."""
    found: list[Mapping[str, Any]] = []
    if isinstance(document, Mapping):
        if "suppressed" in document and any(
                key in document for key in ("distinct_tracks", "element_id", "element_kind")):
            found.append(document)
        for value in document.values():
            found += metric_rows_in(value)
    elif isinstance(document, list):
        for value in document:
            found += metric_rows_in(value)
    return found


def heatmap_cell_violations(counts: npt.ArrayLike, k: int) -> list[tuple[int, int, int]]:
    """Heatmap cells that cannot come from k or more distinct tracks.

    A published cell was visited by at least ``k`` tracks, each seen there at least once,
    so its count is 0 or at least ``k``; a count of 1..k-1 is a cell the minimum-count rule
    missed. (The counts alone cannot show a cell of fewer tracks seen many times.)

    Returns:
        (row, column, count) of each such cell.
    """
    grid = np.asarray(counts)
    rows, cols = np.nonzero((grid > 0) & (grid < k))
    return [(int(r), int(c), int(grid[r, c])) for r, c in zip(rows, cols, strict=True)]


def day_end(date: str) -> float:
    """Seconds since the epoch at the end of a UTC date ``YYYY-MM-DD``."""
    return float((np.datetime64(date, "D") + 1).astype("datetime64[s]").astype(np.int64))


def retention_violations(
    root: Path,
    now_s: float,
    events_days: float | None,
    aggregates_days: float | None,
) -> list[str]:
    """Partitions, rows and heatmaps kept past their retention period.

    A date partition is past it when its whole UTC day ended ``days`` or more before
    ``now_s``; so is a row whose own time (``captured_at`` of events, ``window_start_at``
    of metrics) fell in such a day, whatever partition holds it.

    Args:
        root: the output directory (events/, metrics/, heatmaps/).
        now_s: the present, seconds since the epoch.
        events_days, aggregates_days: the retention settings (None: kept forever).
    """
    bad = []
    plans = (("events", events_days, "captured_at"), ("metrics", aggregates_days,
             "window_start_at"), ("heatmaps", aggregates_days, None))
    for name, days, column in plans:
        if days is None or not (root / name).is_dir():
            continue
        cutoff = now_s - days * SECONDS_PER_DAY
        for part in sorted((root / name).glob("date=*")):
            date = part.name.removeprefix("date=")
            if day_end(date) <= cutoff:
                bad.append(f"{name}/{part.name} is older than {days} day(s)")
        if column is None:
            continue
        for path in sorted((root / name).rglob("*.parquet")):
            times = pq.read_table(path, columns=[column]).column(column).to_numpy()
            ends = (np.floor(times / SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY
            old = int(np.count_nonzero(ends <= cutoff))
            if old:
                bad.append(f"{path.relative_to(root)}: {old} row(s) older than {days} day(s)")
    return bad


RUN_ID = re.compile(r"^[0-9a-f]{32}$")
"""What the controller draws for a run: a uuid4 in hex."""


def track_id_violations(
    rows: Iterable[Mapping[str, Any]], run_ids: set[str], max_track_id: int
) -> list[str]:
    """Event rows whose track id is not an anonymous counter of one of ``run_ids``.

    Every row must carry a ``run_id`` of ``run_ids`` and a ``track_id`` between 1 and
    ``max_track_id``: ids are counters from 1, so a larger one is not run-scoped (a hash, a
    global or persistent id).

    Args:
        rows: event rows.
        run_ids: the ids of the runs that wrote them.
        max_track_id: more tracks than this cannot have been confirmed by those runs.
    """
    bad = []
    for i, row in enumerate(rows):
        run_id, track_id = row.get("run_id"), row.get("track_id")
        if run_id not in run_ids:
            bad.append(f"event row {i} ({row.get('camera_id')}) has run_id {run_id!r}, not "
                       f"one of {sorted(run_ids)}")
        if not isinstance(track_id, int) or not 1 <= track_id <= max_track_id:
            bad.append(f"event row {i} ({row.get('camera_id')}) has track_id {track_id!r}, not "
                       f"a per-run counter in 1..{max_track_id}")
    return bad


def run_ids_in_log(text: str) -> list[str]:
    """The run ids the controller logged (``pipeline started: N cameras, run <id>``)."""
    return re.findall(r"pipeline started: \d+ cameras, run ([0-9a-f]{32})", text)


def rows_of(tables: Sequence[pa.Table]) -> list[dict[str, Any]]:
    """The rows of some tables as dicts."""
    return [row for table in tables for row in table.to_pylist()]
