"""Pipeline-internal detector calls, sent straight to the Detector's Serve replicas.

Camera actors send every group of frames to the Detector deployment. Through a
``DeploymentHandle`` each call also runs Serve's router in the caller (replica choice,
queue-length probes, metrics, a gRPC channel): about 1.1-1.3 CPU-ms per call more than a
plain Ray actor call with the same frames (8 callers, groups of 8 frames, 2 replicas;
``benchmarks/end_to_end.py`` measures the effect on the pipeline). ``ReplicaCaller`` calls
the replicas' actors themselves, the way Serve's own router does once it has chosen one.
It sends each call where it expects it to finish soonest, without queue-length probes: a replica's
seconds per frame, timed on this caller's own calls (a slower call counts at once, a
faster one eases it down), times the frames it already has out there (peak-EWMA, as
Finagle's and Linkerd's balancers). A replica this caller has left alone for
:data:`STALE_S` gets its next call, so that one slow call cannot price it out for good.
HTTP clients still go through Serve's proxy and handles.

The replica actors are found by the names Serve gives them
(``SERVE_REPLICA::<app>#<deployment>#<id>``), listed again every ``refresh_s`` and
after a replica fails. Any call that fails on the direct path (a replica that died or
is not ready, a Ray version whose replicas take requests differently) is made again
through the handle, so that the outcome is the handle's; with no replica found, or
with ``direct=False`` (an autoscaled deployment, whose scaling reads the load at the
handles), every call takes the handle.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import random
import time
import uuid
from typing import Any

import ray
from ray.exceptions import RayActorError, RayError

log = logging.getLogger(__name__)

REPLICA_NAME_PREFIX = "SERVE_REPLICA::"
"""How Serve names a replica's actor: ``SERVE_REPLICA::<app>#<deployment>#<replica id>``."""

REFRESH_S = 10.0
"""Seconds between two listings of the replicas (new ones are used from the next)."""

COST_DECAY = 0.3
"""How far a replica's estimated seconds per unit of work move towards a call's that took
less (a call that took more sets it at once: a replica falling behind is seen at once)."""

STALE_S = 1.0
"""Seconds after which a replica's estimate, with none of this caller's work out there, no
longer counts: the next call goes there, as to an untimed replica. Without it one slow call
(queued behind other cameras' work) could price a replica out for good, since only calls to
it update its estimate: a camera alone then sent every group to one replica and left the
other core idle."""


def _request_metadata(method: str, app_name: str) -> bytes:
    """The pickled request header a replica's ``handle_request`` expects."""
    from ray.serve._private.common import RequestMetadata  # Serve's own request header

    request_id = uuid.uuid4().hex
    return pickle.dumps(RequestMetadata(request_id=request_id, internal_request_id=request_id,
                                        call_method=method, app_name=app_name))


class ReplicaCaller:
    """Calls a Serve deployment's methods on its replica actors, falling back to the handle.

    Args:
        handle: the deployment's ``DeploymentHandle``.
        direct: call the replica actors directly; False: always through ``handle``.
        refresh_s: seconds between two listings of the replicas.
    """

    def __init__(self, handle: Any, direct: bool = True, refresh_s: float = REFRESH_S) -> None:
        self.handle = handle
        self.direct = direct
        self.refresh_s = refresh_s
        self._prefix = f"{REPLICA_NAME_PREFIX}{handle.app_name}#{handle.deployment_name}#"
        self._replicas: dict[str, Any] = {}  # replica actor name -> its actor handle
        self._in_flight: dict[str, int] = {}  # replica actor name -> this caller's work out
        self._cost: dict[str, float] = {}  # replica actor name -> its seconds per unit
        self._timed_at: dict[str, float] = {}  # replica actor name -> when a call returned
        self._listed_at = -float("inf")
        self._listing: asyncio.Task[None] | None = None
        self._fallbacks = 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReplicaCaller, (self.handle, self.direct, self.refresh_s))

    @property
    def fallbacks(self) -> int:
        """Calls made again through the handle after the direct call failed."""
        return self._fallbacks

    @property
    def replicas(self) -> list[str]:
        """Names of the replica actors this caller sends to now."""
        return sorted(self._replicas)

    async def call(self, method: str, *args: Any, weight: int = 1) -> Any:
        """``await handle.<method>.remote(*args)``, on a replica actor when one is known.

        Args:
            method: the deployment's method.
            args: its arguments.
            weight: the call's units of work (a group's frames), for the choice of replica.

        Raises:
            whatever the call through the handle raises.
        """
        if self.direct:
            await self._refresh_if_due()
        name = self._pick(weight)
        if name is None:
            return await getattr(self.handle, method).remote(*args)
        replica = self._replicas[name]
        self._in_flight[name] += weight
        started = time.monotonic()
        try:
            result = await replica.handle_request.remote(
                _request_metadata(method, self.handle.app_name), *args)
            self._observe(name, (time.monotonic() - started) / weight)
            return result
        except Exception as exc:  # noqa: BLE001 - the handle's call decides the outcome
            self._fallbacks += 1
            if isinstance(exc, RayActorError):  # died, or not reachable now
                self._forget(name)
            elif not isinstance(exc, RayError):  # not Ray's: replicas take no direct calls
                self.direct = False
                self._replicas.clear()
                self._in_flight.clear()
                self._cost.clear()
                self._timed_at.clear()
                log.warning("the detector's replicas take no direct calls (%s: %s); calling "
                            "through Serve's handle from now on", type(exc).__name__, exc)
            log.debug("direct call %s on %s failed (%s: %s); through Serve's handle instead",
                      method, name, type(exc).__name__, exc)
        finally:
            if name in self._in_flight:
                self._in_flight[name] -= weight
        return await getattr(self.handle, method).remote(*args)

    def _pick(self, weight: int, now: float | None = None) -> str | None:
        """The known replica expected to finish ``weight`` more units soonest: its seconds
        per unit times this caller's work out there plus ``weight`` (a replica not yet
        timed, or idle for this caller with an estimate older than :data:`STALE_S`, first;
        ties drawn at random, so that callers spread evenly)."""
        if not self._in_flight:
            return None
        now = time.monotonic() if now is None else now
        score = {n: (0.0 if k == 0 and now - self._timed_at.get(n, now) > STALE_S
                     else self._cost.get(n, 0.0)) * (k + weight)
                 for n, k in self._in_flight.items()}
        best = min(score.values())
        return random.choice([n for n, v in score.items() if v == best])

    def _observe(self, name: str, seconds_per_unit: float) -> None:
        """Updates a replica's seconds per unit from a call that just returned."""
        if name not in self._in_flight:
            return
        old = self._cost.get(name)
        self._cost[name] = seconds_per_unit if old is None or seconds_per_unit > old else (
            old + COST_DECAY * (seconds_per_unit - old))
        self._timed_at[name] = time.monotonic()

    def _forget(self, name: str) -> None:
        self._replicas.pop(name, None)
        self._in_flight.pop(name, None)
        self._cost.pop(name, None)
        self._timed_at.pop(name, None)
        self._listed_at = -float("inf")  # list again on the next call

    async def _refresh_if_due(self) -> None:
        if time.monotonic() - self._listed_at < self.refresh_s:
            return
        if self._listing is None or self._listing.done():
            self._listing = asyncio.ensure_future(self._refresh())
        if not self._replicas:  # the first listing: wait for it
            await asyncio.shield(self._listing)

    async def _refresh(self) -> None:
        self._listed_at = time.monotonic()
        try:
            found = await asyncio.to_thread(self._list_replicas)
        except Exception as exc:  # noqa: BLE001 - the handle serves meanwhile
            log.debug("listing the detector's replicas failed: %s: %s", type(exc).__name__, exc)
            return
        for name in set(self._replicas) - set(found):
            self._forget(name)
            self._listed_at = time.monotonic()
        for name, actor in found.items():
            if name not in self._replicas:
                self._replicas[name] = actor
                self._in_flight[name] = 0

    def _list_replicas(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for entry in ray.util.list_named_actors(all_namespaces=True):
            name = entry["name"]
            if name.startswith(self._prefix):
                try:
                    found[name] = ray.get_actor(name, namespace=entry["namespace"])
                except ValueError:  # gone since the listing
                    continue
        return found
