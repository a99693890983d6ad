"""The live dashboard: plain HTML, CSS and JavaScript served by the HTTP API at ``/``.

The pages (``static/``) are package data: no build step and nothing fetched from the
network. What they show comes from the runtime API (``/v1/dashboard``, stills, heatmaps,
``/v1/history``); the pure pieces behind those routes live here and are tested without Ray
(their JSON shapes are in :mod:`pipeline.control.views`):

- :mod:`pipeline.dashboard.history`: a bounded per-camera history of closed windows;
- :mod:`pipeline.dashboard.stills`: each camera's latest still, and still and live-heatmap
  encoding with ETags.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""Folder of the dashboard's pages, scripts and style sheet."""

STATIC_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "inference.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "editor.js": "text/javascript; charset=utf-8",
    "inference.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""The files the API serves, by name, with their content types (nothing else is served)."""
