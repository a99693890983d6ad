"""Alerting: rules checked in media time, a durable outbox, and webhook and MQTT sinks.

- :mod:`pipeline.alerts.config`: the rule, sink and outbox schemas (``alerts:`` in YAML).
- :mod:`pipeline.alerts.inputs`: what the engine is fed (per-camera observations, group
  sums, camera states) and the adapter from the camera analytics.
- :mod:`pipeline.alerts.engine`: :class:`~pipeline.alerts.engine.RuleEngine`, the pure core.
- :mod:`pipeline.alerts.events`: :class:`~pipeline.alerts.events.AlertEvent`, its JSON and
  the Arrow schema of the ``alerts`` table.
- :mod:`pipeline.alerts.outbox`: the SQLite outbox with one delivery cursor per sink.
- :mod:`pipeline.alerts.webhook`, :mod:`pipeline.alerts.mqtt`: the sinks.
- :mod:`pipeline.alerts.delivery`: the worker that drains the outbox into the sinks.

Nothing here imports Ray: an actor hosts these plain classes.
"""
