"""The `ollama` command stand-in: serve, list/ls, ps, pull, rm, show, stop, --version.

Client commands talk HTTP to OLLAMA_HOST like the real CLI and fail the same way when no server answers
(``Error: could not connect to ollama server, run 'ollama serve' to start it``, exit status 1), so compose
healthchecks written for ollama/ollama (``ollama list``) behave the same against the double.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from . import gpu, server
from . import state as state_mod

NOT_RUNNING = "could not connect to ollama server, run 'ollama serve' to start it"


class CLIError(Exception):
    pass


def _client_address() -> tuple[str, int]:
    host, port = state_mod.parse_host(os.environ.get("OLLAMA_HOST", ""))
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, port


def _request(method: str, path: str, body: Any = None, timeout: float = 30) -> http.client.HTTPResponse:
    host, port = _client_address()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson", "User-Agent": "ollama-double-cli"}
    try:
        conn.request(method, path, body=payload, headers=headers)
        return conn.getresponse()
    except OSError as exc:
        raise CLIError(NOT_RUNNING) from exc


def _json(method: str, path: str, body: Any = None) -> Any:
    resp = _request(method, path, body)
    data = resp.read()
    if resp.status >= 400:
        try:
            message = json.loads(data).get("error") or data.decode()
        except ValueError:
            message = data.decode().strip() or resp.reason
        raise CLIError(message)
    return json.loads(data) if data else None


def _ndjson(path: str, body: Any) -> Iterator[dict[str, Any]]:
    resp = _request("POST", path, body, timeout=3600)
    if resp.status >= 400:
        data = resp.read()
        try:
            raise CLIError(json.loads(data).get("error") or data.decode())
        except ValueError as exc:
            raise CLIError(data.decode().strip()) from exc
    for line in resp:
        if line.strip():
            event = json.loads(line)
            if "error" in event:
                raise CLIError(event["error"])
            yield event


def human_bytes(n: int) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            value = n / size
            if value >= 10 or value == int(value):
                return f"{int(value)} {unit}"
            return f"{value:.1f} {unit}"
    return f"{n} B"


def _parse_time(text: str) -> float:
    text = text.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{tz}"
    return dt.datetime.fromisoformat(text).timestamp()


def human_time(ts: float, never: str = "Never") -> str:
    delta = time.time() - ts
    future = delta < 0
    delta = abs(delta)
    if delta > 100 * 365 * 86400:
        return "Forever" if future else never
    if delta < 1:
        return "Less than a second from now" if future else "Less than a second ago"
    unit, value = "second", int(delta)
    steps = (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400), ("day", 86400), ("hour", 3600))
    for name, size in (*steps, ("minute", 60)):
        if delta >= size:
            unit, value = name, int(delta // size)
            break
    phrase = (f"About a {unit}" if unit != "hour" else "About an hour") if value == 1 else f"{value} {unit}s"
    return f"{phrase} from now" if future else f"{phrase} ago"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "".join(str(cell).ljust(widths[i]) + "    " for i, cell in enumerate(row)).rstrip() for row in [header, *rows]
    ]
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    models = _json("GET", "/api/tags")["models"]
    rows = [
        [m["name"], m["digest"][:12], human_bytes(m["size"]), human_time(_parse_time(m["modified_at"]))]
        for m in models
        if not args.model or m["name"].lower().startswith(args.model.lower())
    ]
    print(_table(["NAME", "ID", "SIZE", "MODIFIED"], rows))
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    models = _json("GET", "/api/ps")["models"]
    rows = []
    for m in models:
        size, vram = m["size"], m["size_vram"]
        if vram == 0:
            proc = "100% CPU"
        elif vram == size:
            proc = "100% GPU"
        elif vram > size or size == 0:
            proc = "Unknown"
        else:
            cpu = round((size - vram) / size * 100)
            proc = f"{cpu}%/{100 - cpu}% CPU/GPU"
        until = human_time(_parse_time(m["expires_at"]))
        rows.append([m["name"], m["digest"][:12], human_bytes(size), proc, str(m.get("context_length", 0)), until])
    print(_table(["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"], rows))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    status = None
    for event in _ndjson("/api/pull", {"model": args.model, "insecure": args.insecure}):
        if event.get("digest"):
            line = f"{event['status']}: {human_bytes(event.get('completed', 0))}/{human_bytes(event.get('total', 0))}"
            print(line, file=sys.stderr)
        elif event.get("status") != status:
            status = event.get("status")
            print(status, file=sys.stderr)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    for model in args.models:
        try:
            _json("POST", "/api/generate", {"model": model, "keep_alive": 0})
        except CLIError as exc:
            if "not found" not in str(exc).lower():
                print(f"Warning: unable to stop model '{model}'", file=sys.stderr)
        _json("DELETE", "/api/delete", {"model": model})
        print(f"deleted '{model}'")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    _json("POST", "/api/generate", {"model": args.model, "keep_alive": 0})
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    info = _json("POST", "/api/show", {"model": args.model})
    if args.modelfile:
        print(info.get("modelfile", ""))
        return 0
    details = info.get("details", {})
    print("  Model")
    print(f"    architecture        {info.get('model_info', {}).get('general.architecture', '')}")
    print(f"    parameters          {details.get('parameter_size', '')}")
    print(f"    quantization        {details.get('quantization_level', '')}")
    print()
    print("  Capabilities")
    for cap in info.get("capabilities", []):
        print(f"    {cap}")
    return 0


def cmd_version() -> int:
    version = None
    try:
        version = _json("GET", "/api/version").get("version")
    except CLIError:
        print("Warning: could not connect to a running Ollama instance")
    if version:
        print(f"ollama version is {version}")
    if version != state_mod.VERSION:
        print(f"Warning: client version is {state_mod.VERSION}")
    return 0


def discover_gpus(settings: state_mod.Settings) -> None:
    """Like Ollama: use the GPUs the container can see, else the CPU (see gpu.py)."""
    cards = gpu.discover()
    settings.gpu = 1.0 if cards else 0.0
    settings.gpus = [card.as_dict() for card in cards]
    for card in cards:
        print(card.log_line(), file=sys.stderr)
    if not cards:
        print('msg="no compatible GPUs were discovered"', file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = state_mod.Settings.from_env()
    settings.verbose = True
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.models_dir:
        settings.models_dir = args.models_dir
    if args.catalog:
        settings.catalog_files.extend(args.catalog)
    if args.gpu is not None:
        settings.gpu = state_mod.gpu_fraction(args.gpu)
    elif "OLLAMA_DOUBLE_GPU" not in os.environ:
        discover_gpus(settings)
    if args.pull_delay is not None:
        settings.pull_delay = args.pull_delay
    if args.chunk_size is not None:
        settings.chunk_size = args.chunk_size
    if args.start_delay is not None:
        settings.start_delay = args.start_delay
    if args.start_mode:
        settings.start_mode = args.start_mode
    if args.quiet:
        settings.verbose = False
    server.serve(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ollama", description="Ollama double (tests only)")
    parser.add_argument("-v", "--version", action="store_true", help="show version information")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", aliases=["start"], help="start the double's server")
    serve.add_argument("--host", help="bind address (default from OLLAMA_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from OLLAMA_HOST, else 11434; 0 = any free port)")
    serve.add_argument("--models-dir", help="state directory (default OLLAMA_MODELS, else ~/.ollama/models)")
    serve.add_argument("--catalog", action="append", help="JSON file of extra registry models (repeatable)")
    serve.add_argument("--gpu", help="1/true = GPU (size_vram == size), 0/false = CPU, or a fraction")
    serve.add_argument("--pull-delay", type=float, help="seconds to sleep after each simulated download chunk")
    serve.add_argument("--chunk-size", type=int, help="bytes per simulated download chunk")
    serve.add_argument("--start-delay", type=float, help="seconds before the double answers")
    serve.add_argument("--start-mode", choices=["refuse", "503"], help="during the start delay: refuse or answer 503")
    serve.add_argument("--quiet", action="store_true", help="no per-request log lines")
    ls = sub.add_parser("list", aliases=["ls"], help="list models")
    ls.add_argument("model", nargs="?")
    sub.add_parser("ps", help="list running models")
    pull = sub.add_parser("pull", help="pull a model from the (simulated) registry")
    pull.add_argument("model")
    pull.add_argument("--insecure", action="store_true")
    rm = sub.add_parser("rm", help="remove models")
    rm.add_argument("models", nargs="+")
    stop = sub.add_parser("stop", help="unload a running model")
    stop.add_argument("model")
    show = sub.add_parser("show", help="show information for a model")
    show.add_argument("model")
    show.add_argument("--modelfile", action="store_true")
    return parser


COMMANDS = {"list": cmd_list, "ls": cmd_list, "ps": cmd_ps, "pull": cmd_pull, "rm": cmd_rm, "stop": cmd_stop}
COMMANDS |= {"show": cmd_show, "serve": cmd_serve, "start": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        return cmd_version()
    if not args.command:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
