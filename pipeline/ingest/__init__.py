"""Camera ingest: the Ray-free core of the camera actors.

- :mod:`~pipeline.ingest.config`: ``CameraConfig``, every setting named and bounded.
- :mod:`~pipeline.ingest.source`: opening and decoding files, image directories, RTSP,
  HTTP MJPEG and USB devices.
- :mod:`~pipeline.ingest.pacing`: media time, subsampling, live pacing, newest-wins.
- :mod:`~pipeline.ingest.health`: state machine, counters, rates.
- :mod:`~pipeline.ingest.decoder`: ``Decoder``, the decode thread.
- :mod:`~pipeline.ingest.camera`: ``CameraIngest``, the run loop the actor wraps.

The actor itself is :mod:`actors.camera_actor`.
"""
