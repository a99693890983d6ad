"""Anonymous flow analytics of tracked people: zones, lines, queues, heatmaps, windows.

Plain classes with no Ray dependency: :class:`~pipeline.analytics.camera.CameraAnalytics`
combines them for one camera, and :class:`~pipeline.analytics.aggregator.Aggregator`
hosts many cameras (the aggregator actor wraps it); their outputs are in
:mod:`~pipeline.analytics.events`. All geometry uses a box's bottom centre and all timing
uses media time (``pts_s``).
"""
