"""Awaiting actor calls from the controller's event loop: bounded waits, best-effort
cleanup and kills. The graph, its supervisors and the batch use these for every call
they make to a camera, tracker or aggregator actor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import ray

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 60.0
"""Longest the graph waits for one call that changes it (stop a camera, flush a tracker);
starting a camera has its own ``ray.camera_start_timeout_s``."""


def awaitable(ref: ray.ObjectRef) -> asyncio.Future[Any]:
    """An ObjectRef as an asyncio future (``asyncio.wait_for`` needs one)."""
    return asyncio.wrap_future(ref.future())


async def call(ref: ray.ObjectRef, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    """Awaits an actor call for at most ``timeout_s``."""
    return await asyncio.wait_for(awaitable(ref), timeout_s)


async def bounded(refs: list[Any], timeout_s: float, what: str = "") -> list[Any]:
    """Results of actor calls (None entries stay None), exceptions in place; those not
    done within ``timeout_s`` give TimeoutError."""
    futures = [awaitable(r) if r is not None else None for r in refs]
    live = [f for f in futures if f is not None]
    if live:
        await asyncio.wait(live, timeout=timeout_s)
    out: list[Any] = []
    for f in futures:
        if f is None:
            out.append(None)
        elif not f.done():
            f.cancel()
            out.append(TimeoutError())
        else:
            out.append(f.exception() or f.result())
    for res in out:
        if what and isinstance(res, BaseException):
            log.error("%s failed: %s", what, type(res).__name__)
    return out


async def step(what: str, coro: Awaitable[Any], timeout_s: float) -> None:
    """Awaits one shutdown step for at most ``timeout_s``; a failure is logged."""
    try:
        await asyncio.wait_for(coro, timeout_s)
    except Exception as exc:  # noqa: BLE001 - shutdown goes on
        log.error("%s failed: %s", what, type(exc).__name__)


def kill_actor(actor: Any) -> None:
    """Kills an actor; one already gone is fine."""
    try:
        ray.kill(actor)
    except Exception:  # noqa: BLE001 - already gone
        pass


async def quietly(ref: ray.ObjectRef) -> None:
    """Awaits a best-effort cleanup call; a failure is logged at debug level."""
    try:
        await call(ref)
    except Exception as exc:  # noqa: BLE001 - best-effort cleanup
        log.debug("cleanup call failed: %s", type(exc).__name__)


def actor_node(actor: Any) -> str | None:
    """The node an actor runs on, or None when Ray does not say (best effort)."""
    try:
        from ray._private.state import actors as actor_table

        info = actor_table(actor_id=actor._actor_id.hex())
        return (info.get("Address") or {}).get("NodeID") or None
    except Exception:  # noqa: BLE001 - informational only
        return None
