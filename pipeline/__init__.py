"""panoray: camera streams to anonymous flow metrics on Ray.

Importing this package (or any below it) starts nothing and changes no environment
variable; the entry points in :mod:`pipeline.app` do that."""
