"""The ``panoray`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from pipeline.config import HttpConfig, ModelConfig, ServingConfig
from pipeline.errors import PanorayError

log = logging.getLogger("panoray")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2


def _serve(args: argparse.Namespace) -> int:
    from ray import serve

    from pipeline.serving import init_ray, start_serving

    model = ModelConfig(name=args.model, provider=args.provider)
    serving = ServingConfig(replicas=args.replicas, max_batch_size=args.max_batch_size)
    http = HttpConfig(host=args.host, port=args.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    init_ray(args.address)
    try:
        start_serving(model, serving, http)
        print(f"panoray: serving {model.name} on http://{http.host}:{http.port} "
              f"(docs at /docs); Ctrl-C stops", flush=True)
        stop.wait()
        print("panoray: shutting down", flush=True)
    finally:
        serve.shutdown()
    return EXIT_OK


def _models(args: argparse.Namespace) -> int:
    from models.registry import BUNDLED

    for m in BUNDLED.values():
        print(json.dumps({"name": m.name, "family": m.family, "description": m.description}))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panoray", description="Anonymous flow metrics from the cameras a site has."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the HTTP inference endpoint")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    s.add_argument("--model", default=ModelConfig().name, help="bundled model name or .onnx path")
    s.add_argument("--provider", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])
    s.add_argument("--replicas", type=int, default=1, help="detector replicas")
    s.add_argument("--max-batch-size", type=int, default=ServingConfig().max_batch_size)
    s.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    s.set_defaults(func=_serve)

    m = sub.add_parser("models", help="list bundled models")
    m.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except PanorayError as exc:
        print(f"panoray: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:  # pydantic validation errors of CLI-built configs
        print(f"panoray: invalid setting: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
