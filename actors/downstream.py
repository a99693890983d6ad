"""Where a camera actor sends its results, and waiting for a re-created host.

A camera's frames go to its tracker actor and its stills to its aggregator actor. When
either dies, the controller re-creates it and hands the camera the new handle
(:meth:`Downstream.replace`). Meanwhile a delivery that failed because its tracker died
waits up to :data:`REATTACH_WAIT_S` for the new one and is sent again, so an offline
camera loses no frame to a tracker restart (its backpressure holds the decoder), and a
live one drops only what its own overload policy drops while it waits.

Example:
    >>> down = Downstream(tracker=None, aggregator=None)
    >>> down.generation
    0
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray.exceptions import RayActorError

from pipeline.errors import PanorayError
from pipeline.types import DetectedFrame

log = logging.getLogger(__name__)

REATTACH_WAIT_S = 30.0
"""Longest a delivery waits for a dead tracker to be replaced before the frames fail
(the controller checks its hosts every ``ray.camera_check_interval_s``)."""


class Downstream:
    """The camera's current tracker and aggregator handles.

    Args:
        tracker: the tracker actor (``update([DetectedFrame, ...])``), or None.
        aggregator: the aggregator actor (``set_still(camera_id, still, blurred)``), or None.
    """

    def __init__(self, tracker: Any, aggregator: Any) -> None:
        self.tracker = tracker
        self.aggregator = aggregator
        self.generation = 0  # bumped on every replacement
        self._changed = asyncio.Event()

    def replace(self, tracker: Any = None, aggregator: Any = None) -> None:
        """Switches to new hosts (None keeps the current one) and wakes waiting deliveries."""
        if tracker is not None:
            self.tracker = tracker
        if aggregator is not None:
            self.aggregator = aggregator
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def deliver(self, results: list[DetectedFrame]) -> Any:
        """Sends frames to the tracker; if it died, waits for its replacement once.

        Raises:
            PanorayError: the tracker died and no replacement came in time.
        """
        generation, changed = self.generation, self._changed
        try:
            return await self.tracker.update.remote(results)
        except RayActorError:
            if self.generation == generation:
                try:
                    await asyncio.wait_for(changed.wait(), REATTACH_WAIT_S)
                except TimeoutError:
                    raise PanorayError(f"tracker died and was not replaced within "
                                       f"{REATTACH_WAIT_S:.0f} s") from None
            log.info("re-sending %d frame(s) to the re-created tracker", len(results))
            return await self.tracker.update.remote(results)

    async def send_still(self, camera_id: str, still: Any, blurred: bool) -> None:
        """Sends a private still to the aggregator; a dead one loses only this still."""
        try:
            await self.aggregator.set_still.remote(camera_id, still, blurred)
        except RayActorError:
            log.debug("camera %s: still dropped (aggregator being re-created)", camera_id)
