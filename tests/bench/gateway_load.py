"""Load generator for tests/bench/gateway_bench.py: runs inside a converged workstation (python3, stdlib only).

It is piped to `python3 -` in the workstation and prints one JSON object. The same chat request goes to two
targets on the workstation's loopback: the gateway (LiteLLM's OpenAI API over HTTPS, verified against the
lab CA, with the master key) and Ollama directly (its /api/chat, which is what LiteLLM calls). Each client
thread keeps one connection open (keep-alive), as an SDK does.

Arguments: one JSON object with the targets and the phases' lengths (see gateway_bench.py).
"""

import http.client
import json
import ssl
import sys
import threading
import time

PROMPT = [{"role": "user", "content": "Say hello to the lab"}]


class Target:
    def __init__(self, spec, model):
        self.name = spec["name"]
        self.host = spec["host"]
        self.port = spec["port"]
        self.openai = spec["api"] == "openai"
        self.context = ssl.create_default_context(cafile=spec["cafile"]) if spec.get("cafile") else None
        self.server_hostname = spec.get("server_hostname")
        self.headers = {"Content-Type": "application/json"}
        if spec.get("key"):
            self.headers["Authorization"] = f"Bearer {spec['key']}"
        self.path = "/v1/chat/completions" if self.openai else "/api/chat"
        self.model = model

    def connect(self):
        if self.context is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=300)
        return http.client.HTTPSConnection(self.host, self.port, timeout=300, context=self.context)

    def body(self, stream):
        return json.dumps({"model": self.model, "messages": PROMPT, "stream": stream}).encode()


class Client:
    """One keep-alive connection; a request that fails is counted and the connection opened again."""

    def __init__(self, target):
        self.target = target
        self.conn = target.connect()

    def request(self, stream=False):
        """(seconds, chunks) of one answer read to its end; chunks counts streamed events (SSE data or NDJSON)."""
        started = time.perf_counter()
        try:
            self.conn.request("POST", self.target.path, self.target.body(stream), self.target.headers)
            response = self.conn.getresponse()
            if not stream:
                payload = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{response.status} {payload[:200]!r}")
                return time.perf_counter() - started, 1, None
            chunks, first = 0, None
            for raw in response:
                line = raw.strip()
                if not line or line == b"data: [DONE]":
                    continue
                if first is None:
                    first = time.perf_counter() - started
                chunks += 1
            if response.status != 200:
                raise RuntimeError(f"{response.status}")
            return time.perf_counter() - started, chunks, first
        except Exception:
            self.conn.close()
            self.conn = self.target.connect()
            raise


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def closed_loop(target, concurrency, seconds, warmup):
    """Each of `concurrency` threads sends requests one after another for `seconds` (after `warmup`)."""
    latencies, errors, sent = [], [], [0]
    lock = threading.Lock()
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds

    def worker():
        client = Client(target)
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                break
            try:
                elapsed, _chunks, _first = client.request()
            except Exception as exc:  # a failed request is a figure, not a crash
                with lock:
                    errors.append(str(exc)[:200])
                continue
            with lock:
                sent[0] += 1
                if now >= start_at:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "sent_with_warmup": sent[0],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "req_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1) if latencies else None,
    }


def streams(target, count):
    """`count` long streamed answers one after another; chunks/s of each, and the median."""
    client = Client(target)
    client.request(stream=True)  # warm-up: model loaded, connection open
    runs = []
    for _ in range(count):
        elapsed, chunks, first = client.request(stream=True)
        runs.append({"chunks": chunks, "seconds": round(elapsed, 3), "first_chunk_ms": round(first * 1000, 1)})
    rates = sorted(r["chunks"] / r["seconds"] for r in runs)
    return {"runs": runs, "chunks_per_s": round(rates[len(rates) // 2], 1)}


def main():
    spec = json.loads(sys.argv[1])
    results = {}
    for target_spec in spec["targets"]:
        target = Target(target_spec, spec["model"])
        results[target.name] = {
            "c1": closed_loop(target, 1, spec["seconds"], spec["warmup"]),
            "c16": closed_loop(target, 16, spec["seconds"], spec["warmup"]),
        }
    print(json.dumps(results))


def main_streams():
    spec = json.loads(sys.argv[2])
    results = {}
    for target_spec in spec["targets"]:
        results[target_spec["name"]] = streams(Target(target_spec, spec["model"]), spec["streams"])
    print(json.dumps(results))


if __name__ == "__main__":
    if sys.argv[1] == "streams":
        main_streams()
    else:
        main()
