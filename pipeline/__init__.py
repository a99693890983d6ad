"""panoray: camera streams to anonymous flow metrics on Ray."""

from pipeline import serve_env as _serve_env

_serve_env.apply()
