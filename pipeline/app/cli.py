"""The ``panoray`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import signal
import sys
import threading

# Nothing imported here may start a thread (numpy, OpenCV and pyarrow do): `run` and
# `serve` block SIGTERM before they import those, and a thread started earlier would take
# a SIGTERM while Ray's exit-at-once handler is set (tests/unit/test_cli_imports.py).
from models.config import AUTO_BATCH_CPU, AUTO_BATCH_GPU, ModelConfig, ServingConfig
from pipeline.app.ray_env import apply_ray_env
from pipeline.app.signals import block_sigterm, restore_mask
from pipeline.errors import ConfigError, PanorayError, error_message

log = logging.getLogger("panoray")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_CAMERA_FAILED = 3  # the run completed, but at least one camera ended in `failed`
PASS_THROUGH = {"bench": "bench_args", "ray-start": "ray_args"}
"""Subcommands whose arguments go on to another program, and where they are kept."""
SIGNAL_EXIT_BASE = 128  # stopped by signal N (clean shutdown): exit 128 + N


def _validate(args: argparse.Namespace) -> int:
    from pipeline.errors import ConfigFileError
    from pipeline.site_config import load_site_config

    from pipeline.ingest.probe import probe_geometry

    try:
        cfg = load_site_config(args.config)
        # pixel geometry against the frame size, with the lines of the file
        issues = probe_geometry(cfg.cameras, pathlib.Path(args.config).read_text())
        if issues:
            raise ConfigFileError(str(args.config), issues)
    except ConfigFileError as exc:
        print(f"panoray: invalid config {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in cfg.config_warnings():
        print(f"panoray: warning: {warning}", file=sys.stderr)
    print(f"{args.config}: ok ({len(cfg.cameras)} cameras: "
          f"{', '.join(c.id for c in cfg.cameras)})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    """``panoray run``: the Python API's :func:`~pipeline.app.api.start` and its handle,
    with signal handling, the live table and the exit codes around them."""
    import pathlib

    # Ray's processes and threads start with SIGTERM blocked, so that a SIGTERM to the
    # whole process group reaches only this driver, once its own handler is in place.
    shield = block_sigterm()

    from pipeline.alerts.delivery import check_secrets
    from pipeline.app.api import Site, start
    from pipeline.app.serving import init_ray
    from pipeline.app.status_table import StatusDisplay
    from pipeline.errors import ConfigFileError
    from pipeline.site_config import DEMO_CONFIG

    path = args.config or DEMO_CONFIG
    try:
        cfg = Site.from_yaml(path)
    except ConfigFileError as exc:
        print(f"panoray: invalid config {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.port is not None:
        cfg = cfg.model_copy(update={"http": cfg.http.model_copy(update={"port": args.port})})
    try:  # before anything starts
        cfg.http.check_exposure()
        if cfg.alerts is not None:
            check_secrets(cfg.alerts, os.environ)
        outputs = cfg.with_output(pathlib.Path(args.output) if args.output else None)
        outputs.check_outputs(pathlib.Path(args.export_tracks) if args.export_tracks else None)
    except ConfigError as exc:
        print(f"panoray: invalid config {path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in cfg.config_warnings():
        print(f"panoray: warning: {warning}", file=sys.stderr)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    def install_handlers() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)

    install_handlers()
    output = outputs.output_dir
    what = "demo" if args.config is None else str(path)
    print(f"panoray: running {what}: {len(cfg.cameras)} cameras, "
          f"{'offline' if args.offline else 'as configured'}; output in {output}", flush=True)
    init_ray(args.address or cfg.ray.address, namespace=cfg.ray.namespace,
             dashboard=cfg.ray.dashboard)
    install_handlers()  # ray.init installs its own SIGTERM handler; ours must win
    restore_mask(shield)  # a SIGTERM held meanwhile stops the run cleanly now
    # a signal from here on stops the run cleanly (start-up included)
    handle = start(cfg, args.offline, args.address, output_dir=args.output,
                   duration_s=args.duration, export_tracks=args.export_tracks, stop=stop)
    why = "stopped"
    try:
        with StatusDisplay() as display:
            why = handle.wait(stop, display.update)
        print(f"panoray: {why}; shutting down cleanly", flush=True)
    finally:
        result = handle.stop(why)
    print(json.dumps(result.summary, indent=2), flush=True)
    if received:
        return SIGNAL_EXIT_BASE + received[0]
    if result.summary.get("error") or not result.summary.get("output", {}).get("complete", True):
        return EXIT_ERROR  # the controller was lost, or rows were not written
    return EXIT_CAMERA_FAILED if result.failed_cameras else EXIT_OK


def _count_or_auto(value: str) -> int | str:
    """``--replicas`` and ``--max-batch-size``: a positive count or ``auto``."""
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count or 'auto', got {value!r}")
    return count


def _serve(args: argparse.Namespace) -> int:
    shield = block_sigterm()  # until our handler is set after ray.init: see _run

    from models.registry import resolve_model
    from pipeline.app.serving import init_ray, start_serving, stop_serving
    from pipeline.errors import ModelError
    from pipeline.http_config import HttpConfig

    model = ModelConfig(name=args.model, provider=args.provider)
    if not (args.address or os.environ.get("RAY_ADDRESS")):  # a cluster may hold the path
        try:
            resolve_model(model.name, model.family)
        except ModelError as exc:
            print(f"panoray: invalid setting: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    serving = ServingConfig(replicas=args.replicas, max_batch_size=args.max_batch_size)
    http = HttpConfig(host=args.host, port=args.port)
    stop = threading.Event()

    def install_handlers() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

    install_handlers()  # a Ctrl-C while Ray starts stops the serving once it has
    init_ray(args.address)
    install_handlers()  # ray.init installs its own SIGTERM handler; ours must win
    restore_mask(shield)  # a SIGTERM held meanwhile stops the serving now
    served = False
    try:
        if start_serving(model, serving, http, stop=stop) is not None:
            print(f"panoray: serving {model.name} on http://{http.host}:{http.port} "
                  f"(docs at /docs); Ctrl-C stops", flush=True)
            served = True
            stop.wait()
        print("panoray: shutting down", flush=True)
    finally:
        stop_serving(drain=served)  # requests in flight are answered first
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    import pathlib
    import runpy

    script = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "end_to_end.py"
    if not script.is_file():
        print(f"panoray: error: {script} is not here; `panoray bench` runs from a source "
              "checkout (install with scripts/setup.sh --bench)", file=sys.stderr)
        return EXIT_ERROR
    sys.argv = [str(script), *args.bench_args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    return EXIT_OK


def _ray_start(args: argparse.Namespace) -> int:
    from pipeline.app.ray_env import ray_start_command

    command = ray_start_command(args.ray_args)
    os.execv(command[0], command)  # the environment carries panoray's variables (main)
    return EXIT_ERROR  # not reached


def _port(value: str) -> int:
    """``--port``: a TCP port, 1 to 65535."""
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    """``--duration``: a positive number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return seconds


def _ray_address(value: str) -> str:
    """``--address``: refused when it is the dashboard's http(s):// address."""
    from pipeline.site_config import check_ray_address

    try:
        check_ray_address(value, "--address")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


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
    s.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    s.add_argument("--model", default=ModelConfig().name, help="bundled model name or .onnx path")
    s.add_argument("--provider", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])
    s.add_argument("--replicas", type=_count_or_auto, default="auto",
                   help="detector replicas, or auto (one per CPU core, or 1 with GPUs)")
    s.add_argument("--max-batch-size", type=_count_or_auto, default="auto",
                   help=f"frames per model run, or auto ({AUTO_BATCH_CPU} on CPU, "
                   f"{AUTO_BATCH_GPU} on a GPU)")
    s.add_argument("--address", type=_ray_address, default=None,
                   help="Ray cluster address (default: local)")
    s.set_defaults(func=_serve)

    r = sub.add_parser("run", help="run a deployment (no CONFIG: the embedded demo)")
    r.add_argument("config", nargs="?", default=None, help="deployment YAML")
    r.add_argument("--output", default=None, help="output directory (overrides sinks)")
    r.add_argument("--offline", action="store_true",
                   help="process files as fast as possible, dropping nothing")
    r.add_argument("--export-tracks", default=None, metavar="DIR",
                   help="write each camera's tracks as MOTChallenge text DIR/<camera>.txt")
    r.add_argument("--address", type=_ray_address, default=None,
                   help="Ray cluster address (default: local)")
    r.add_argument("--duration", type=_seconds, default=None, help="stop after S seconds")
    r.add_argument("--port", type=_port, default=None, help="HTTP API port (overrides http.port)")
    r.set_defaults(func=_run)

    v = sub.add_parser("validate", help="check a deployment YAML; exit 0 or 2")
    v.add_argument("config", help="deployment YAML")
    v.set_defaults(func=_validate)

    b = sub.add_parser("bench", help="end-to-end benchmark (benchmarks/end_to_end.py)",
                       description="Runs benchmarks/end_to_end.py; arguments pass through "
                       "(for example --quick).")
    b.add_argument("bench_args", nargs=argparse.REMAINDER, help="--quick, --cameras 1,4,8, ...")
    b.set_defaults(func=_bench)

    rs = sub.add_parser(
        "ray-start", help="`ray start` with panoray's Ray and Serve settings",
        description="Runs `ray start` with ARGS (e.g. --head --dashboard-host=127.0.0.1), "
        "with the settings panoray's own local Ray gets (pipeline/app/ray_env.py): objects, "
        "frames among them, never spill to disk; bounded task events; Serve's variables.")
    rs.add_argument("ray_args", nargs=argparse.REMAINDER, metavar="ARGS",
                    help="arguments of `ray start`")
    rs.set_defaults(func=_ray_start)

    m = sub.add_parser("models", help="list bundled models")
    m.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    apply_ray_env()  # before anything imports ray.serve or starts Ray
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    passed = PASS_THROUGH.get(args.command)
    if extra and passed is None:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if passed is not None:  # argparse leaves leading options out of a REMAINDER
        setattr(args, passed, [*extra, *getattr(args, passed)])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except PanorayError as exc:  # raised in an actor: its message, not Ray's traceback
        print(f"panoray: error: {error_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:  # pydantic validation errors of CLI-built configs
        print(f"panoray: invalid setting: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
