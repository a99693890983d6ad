"""Entry points: what starts, serves and stops a pipeline.

- :mod:`~pipeline.app.cli`: the ``panoray`` command line.
- :mod:`~pipeline.app.runner`: ``PipelineRunner``, the driver side of ``panoray run``.
- :mod:`~pipeline.app.serving`: joining Ray and deploying the detector and HTTP API.
- :mod:`~pipeline.app.http_api`: the HTTP API (inference, runtime API, dashboard).
- :mod:`~pipeline.app.ray_env`: the Ray and Serve settings set before Ray starts.

Nothing below this package imports it.
"""
