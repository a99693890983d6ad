"""A camera's zones and lines edited at run time: the request and its checks. No Ray.

``PUT /v1/cameras/{id}/geometry`` sends a :class:`GeometryEdit`: the camera's whole new
set of zones and lines, validated by the very models of the site YAML (``ZoneConfig``,
``LineConfig``), and optionally the ``version`` the editor started from, so that two
people editing one camera do not silently overwrite each other.
:func:`apply_geometry_edit` checks the edit against the rest of the site (zone timings
against the window grace, zone groups, site-occupancy entrance lines and alert rules that
name the camera's zones and lines) and returns the camera's new config and analytics.

Example:
    >>> from pipeline.site_config import SiteConfig
    >>> site = SiteConfig.model_validate({"cameras": [{"id": "door", "url": "a.mp4"}]})
    >>> edit = GeometryEdit.model_validate(
    ...     {"lines": [{"id": "in", "start": [0.5, 0], "end": [0.5, 1]}]})
    >>> new_site, camera, analytics = apply_geometry_edit(site, site.cameras[0], edit)
    >>> [ln.id for ln in camera.lines], [ln.id for ln in new_site.cameras[0].lines]
    (['in'], ['in'])
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from pipeline.analytics.config import AnalyticsConfig, LineConfig, ZoneConfig
from pipeline.config import StrictModel, validation_message
from pipeline.errors import ConfigError
from pipeline.ingest.config import CameraConfig


class GeometryEdit(StrictModel):
    """A camera's new zones and lines (both replace the current ones as a whole)."""

    zones: tuple[ZoneConfig, ...] = Field(
        (), max_length=256, description="The camera's zones, as in the site YAML.")
    lines: tuple[LineConfig, ...] = Field(
        (), max_length=256, description="The camera's counting lines, as in the site YAML.")
    version: int | None = Field(
        None, ge=0,
        description="The camera's geometry_version this edit was made from; when given and "
        "the camera's is another (someone else saved meanwhile), the edit is refused (409).")


def apply_geometry_edit(site: Any, camera: CameraConfig, edit: GeometryEdit
                        ) -> tuple[Any, CameraConfig, AnalyticsConfig]:
    """Checks an edit of ``camera``'s zones and lines against the whole site.

    Args:
        site: the run's :class:`~pipeline.site_config.SiteConfig` (its cameras as
            currently edited; validated again as a whole, by its own class: this layer
            does not import it).
        camera: the camera's current config (one of the site's, or added through the API).
        edit: the new zones and lines.

    Returns:
        The site config with the camera's new geometry (unchanged for a camera added
        through the API), the camera's new config, and its new analytics config.

    Raises:
        ConfigError: the new geometry does not fit; the message names the camera, the
            key and what is wrong (a zone group's zone that no longer exists, a zone's
            timing longer than the window grace, ...).
    """
    new = camera.model_copy(update={"zones": edit.zones, "lines": edit.lines})
    where = f"cameras[{camera.id}]"
    try:
        analytics = site.analytics_for(new)
        if any(c.id == camera.id for c in site.cameras):
            cameras = tuple(new if c.id == camera.id else c for c in site.cameras)
            site = type(site).model_validate({**dict(site), "cameras": cameras})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc), where) from None
    except ValueError as exc:  # a check that raises outside pydantic's wrapping
        raise ConfigError(str(exc), where) from None
    return site, new, analytics
