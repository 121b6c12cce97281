#!/usr/bin/env python3
"""Take docs/images/prometheus-alerts.png: Prometheus's alerts page, with the role's rules firing on real series.

Debian's prometheus package has no React UI (its /alerts is a page saying so): the page is the classic UI's
/classic/alerts, which Debian still carries.

Not part of `make test`. Needs the bed (`make bed`: local/prometheus with node-exporter) and Debian's chromium
(`apt-get install -y chromium`). The fleet is tests/integration/live_prometheus.py's: the real LiteLLM proxy with
the role's config, and two hosts whose collector runs on the simulated nvidia-smi (two recorded RTX 3060s, one 95 %
full, tinyllama on the CPU, llama3.1:8b missing, the models volume 94 % full; a recorded RTX 4090 whose Ollama does
not answer), served by Debian's node-exporter, scraped by Debian's Prometheus with the SHIPPED rules (their own
`for:`, so the run waits about six minutes for the 5-minute ones).

    .venv/bin/python tests/bench/prometheus_screenshot.py [--output docs/images/prometheus-alerts.png]
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from live_prometheus import RULES, image_problem, sample_fleet  # noqa: E402

EXPECTED = 5  # OllamaDown, ModelMissing, ModelOnCPU, GPUMemoryHigh, ModelsVolumeFull


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "images" / "prometheus-alerts.png")
    parser.add_argument("--wait", type=int, default=420, help="seconds to wait for the alerts to fire")
    parser.add_argument("--size", default="1280,1000", help="the browser window, WIDTH,HEIGHT")
    args = parser.parse_args()
    problem = image_problem()
    if problem:
        sys.exit(problem)
    with sample_fleet("llmstack-screenshot-", rules=RULES, scrape_interval="5s") as prometheus:
        start = time.monotonic()
        query = f'count(ALERTS{{alertstate="firing"}}) >= {EXPECTED}'
        while not prometheus.query(query):
            if time.monotonic() - start > args.wait:
                sys.exit(f"the alerts did not fire within {args.wait} s: {prometheus.query('ALERTS')}")
            time.sleep(5)
        print(f"{EXPECTED} alerts firing after {time.monotonic() - start:.0f} s")
        browser = shutil.which("chromium")
        if not browser:
            sys.exit("chromium is missing: apt-get install -y chromium")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={args.size}",
             "--virtual-time-budget=10000", f"--screenshot={args.output}", f"{prometheus.url}/classic/alerts"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        print(f"{args.output}: {args.output.stat().st_size} bytes")


if __name__ == "__main__":
    main()
