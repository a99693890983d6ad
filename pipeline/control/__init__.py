"""Running a pipeline, without Ray: what the controller keeps per camera
(:mod:`~pipeline.control.records`) and the JSON views of every read
(:mod:`~pipeline.control.views`). ``actors.controller_actor`` is the Ray shell around them.
"""
