"""The bed's stand-in service images work like the images they replace (tests/images/README.md).

Each test starts real containers on this host's Docker engine (images from tests/bed/build-service-images.sh,
i.e. `make bed`) on a private network and removes everything it created, volumes included.
"""

import json
import os
import secrets
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from ollama_double import VERSION as DOUBLE_VERSION  # noqa: E402

OLLAMA_IMAGE = os.environ.get("LLMSTACK_OLLAMA_DOUBLE_IMAGE", f"local/ollama-double:{DOUBLE_VERSION}")
LITELLM_IMAGE = os.environ.get("LLMSTACK_LITELLM_IMAGE", "local/litellm:1.108.7")
POSTGRES_IMAGE = os.environ.get("LLMSTACK_POSTGRES_IMAGE", "local/postgres:17")
NGINX_IMAGE = os.environ.get("LLMSTACK_NGINX_IMAGE", "local/nginx:1.26.3")
PROMETHEUS_IMAGE = os.environ.get("LLMSTACK_PROMETHEUS_IMAGE", "local/prometheus:2.53.3")


def docker(*args, check=True, timeout=120):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def wait_until(what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic() - (deadline - seconds)
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def inspect(image):
    return json.loads(docker("image", "inspect", image).stdout)[0]["Config"]


class Sandbox:
    """Names, a network, and cleanup of every container and volume a test creates."""

    def __init__(self):
        self.prefix = f"llmstack-imgtest-{secrets.token_hex(3)}"
        self.network = self.prefix
        self.containers = []
        self.volumes = []
        docker("network", "create", self.network)

    def name(self, suffix):
        return f"{self.prefix}-{suffix}"

    def volume(self, suffix):
        name = self.name(suffix)
        docker("volume", "create", name)
        self.volumes.append(name)
        return name

    def run(self, suffix, image, *args, env=None, options=()):
        name = self.name(suffix)
        argv = ["run", "-d", "--name", name, "--network", self.network, "--network-alias", suffix, *options]
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        self.containers.append(name)
        docker(*argv, image, *args)
        return name

    def remove(self, name):
        docker("rm", "-f", name, check=False)

    def close(self):
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes:
            docker("volume", "rm", "-f", name, check=False)
        docker("network", "rm", self.network, check=False)


@pytest.fixture
def sandbox():
    for image in (OLLAMA_IMAGE, LITELLM_IMAGE, POSTGRES_IMAGE, NGINX_IMAGE, PROMETHEUS_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"image {image} is missing: run `make bed` (tests/bed/build-service-images.sh)")
    box = Sandbox()
    yield box
    box.close()


def exit_code(container):
    return int(docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout)


def published(container, port):
    out = docker("port", container, str(port)).stdout.split()[0]
    return out.replace("0.0.0.0", "127.0.0.1")


def http(method, url, body=None, key=None, timeout=60):
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


# -- ollama-double ----------------------------------------------------------------------------------
def test_ollama_double_image(sandbox):
    config = inspect(OLLAMA_IMAGE)
    assert config["Entrypoint"] == ["/bin/ollama"]
    assert config["Cmd"] == ["serve"]
    assert "OLLAMA_HOST=0.0.0.0:11434" in config["Env"]
    assert "11434/tcp" in config["ExposedPorts"]

    models = sandbox.volume("ollama-data")
    options = ("-v", f"{models}:/root/.ollama")
    ollama = sandbox.run("ollama", OLLAMA_IMAGE, options=options)
    wait_until("ollama list", lambda: docker("exec", ollama, "ollama", "list", check=False).returncode == 0, 30)
    assert docker("exec", ollama, "sh", "-c", "command -v curl || command -v wget", check=False).returncode != 0
    down = docker("exec", "-e", "OLLAMA_HOST=127.0.0.1:1", ollama, "ollama", "list", check=False)
    assert down.returncode == 1 and "could not connect to ollama server" in down.stderr
    assert docker("exec", "-e", "OLLAMA_HOST=127.0.0.1:1", ollama, "ollama", "--version", check=False).returncode == 0

    pulled = docker("exec", ollama, "ollama", "pull", "tinyllama")
    assert "success" in pulled.stderr
    assert (docker("exec", ollama, "test", "-d", "/root/.ollama/models/blobs").returncode) == 0

    started = time.monotonic()
    docker("stop", ollama)
    assert time.monotonic() - started < 5 and exit_code(ollama) == 0
    sandbox.remove(ollama)
    again = sandbox.run("ollama", OLLAMA_IMAGE, options=options)
    wait_until("ollama list", lambda: docker("exec", again, "ollama", "list", check=False).returncode == 0, 30)
    assert "tinyllama:latest" in docker("exec", again, "ollama", "list").stdout  # the volume kept the model


# -- litellm ----------------------------------------------------------------------------------------
def test_litellm_image_routes_to_the_double(sandbox, tmp_path):
    config = inspect(LITELLM_IMAGE)
    assert config["Entrypoint"] == ["docker/prod_entrypoint.sh"]
    assert config["Cmd"] == ["--port", "4000"]
    assert config["WorkingDir"] == "/app"
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in config["Env"]

    ollama = sandbox.run("ollama", OLLAMA_IMAGE)
    wait_until("ollama list", lambda: docker("exec", ollama, "ollama", "list", check=False).returncode == 0, 30)
    docker("exec", ollama, "ollama", "pull", "tinyllama")

    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "model_list:\n"
        "  - model_name: tinyllama\n"
        "    litellm_params:\n"
        "      model: ollama_chat/tinyllama\n"
        "      api_base: http://ollama:11434\n"
        "    model_info:\n"
        "      mode: chat\n"
        "litellm_settings:\n"
        "  callbacks: [prometheus]\n"
        "general_settings:\n"
        "  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )
    config_file.chmod(0o644)
    key = "sk-" + secrets.token_hex(16)
    litellm = sandbox.run(
        "litellm",
        LITELLM_IMAGE,
        "--config",
        "/app/config.yaml",
        "--port",
        "4000",
        env={"LITELLM_MASTER_KEY": key},
        options=("-v", f"{config_file}:/app/config.yaml:ro", "-p", "127.0.0.1::4000"),
    )
    probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=5)"

    def alive():
        if docker("inspect", "-f", "{{.State.Running}}", litellm).stdout.strip() != "true":
            raise AssertionError("litellm exited:\n" + docker("logs", litellm, check=False).stderr[-3000:])
        return docker("exec", litellm, "python3", "-c", probe, check=False).returncode == 0

    wait_until("LiteLLM liveliness (the compose healthcheck's python3 one-liner)", alive, 180)
    assert docker("exec", litellm, "python3", "-c", "import litellm, prisma, prometheus_client").returncode == 0

    base = "http://" + published(litellm, 4000)
    assert http("GET", base + "/health/liveliness")[0] == 200
    status, models = http("GET", base + "/v1/models", key=key)
    assert status == 200 and [m["id"] for m in models["data"]] == ["tinyllama"]
    status, answer = http("GET", base + "/v1/models")
    assert status == 401, answer  # 500 without the prisma package
    status, answer = http(
        "POST",
        base + "/v1/chat/completions",
        {"model": "tinyllama", "messages": [{"role": "user", "content": "hi"}]},
        key=key,
    )
    assert status == 200, answer
    assert "Ollama double" in answer["choices"][0]["message"]["content"]
    # The prometheus callback works in the image (prometheus-client, as the real image's proxy-runtime extra has
    # it) and /metrics needs the key by default (LiteLLM 1.108.7's require_auth_for_metrics_endpoint: True).
    status, answer = http("GET", base + "/metrics")
    assert status == 401 and "Unauthorized access to metrics endpoint" in str(answer), answer
    with urllib.request.urlopen(
        urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {key}"}), timeout=30
    ) as response:
        metrics = response.read().decode()
    (counted,) = [
        line
        for line in metrics.splitlines()
        if line.startswith("litellm_proxy_total_requests_metric_total{") and 'requested_model="tinyllama"' in line
    ]
    assert counted.endswith(" 1.0"), counted

    log = docker(
        "exec",
        ollama,
        "python3",
        "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:11434/_double/requests?path=/api/chat').read().decode())",
    )
    chats = json.loads(log.stdout)["requests"]
    assert [(r["method"], r["body"]["model"]) for r in chats] == [("POST", "tinyllama")]

    started = time.monotonic()
    docker("stop", litellm)
    assert time.monotonic() - started < 15 and exit_code(litellm) == 0


# -- postgres ---------------------------------------------------------------------------------------
def test_postgres_image_persists_and_authenticates(sandbox):
    config = inspect(POSTGRES_IMAGE)
    assert "PGDATA=/var/lib/postgresql/data" in config["Env"]
    data = sandbox.volume("pg-data")
    password = "pw " + secrets.token_hex(8)  # a space, to catch quoting mistakes
    env = {"POSTGRES_USER": "litellm", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "litellm"}
    options = ("-v", f"{data}:/var/lib/postgresql/data")

    def ready(container):
        return docker("exec", container, "pg_isready", "-U", "litellm", "-d", "litellm", check=False).returncode == 0

    def psql(sql, secret=password, host="postgres"):
        return docker(
            "run", "--rm", "--network", sandbox.network, "-e", f"PGPASSWORD={secret}", "--entrypoint", "psql",
            POSTGRES_IMAGE, "-h", host, "-U", "litellm", "-d", "litellm", "-v", "ON_ERROR_STOP=1", "-Atc", sql,
            check=False,
        )  # fmt: skip

    pg = sandbox.run("postgres", POSTGRES_IMAGE, env=env, options=options)
    wait_until("pg_isready", lambda: ready(pg), 60)
    assert docker("exec", pg, "sh", "-c", "command -v psql pg_isready").returncode == 0
    assert docker("exec", pg, "ps", "-o", "user=", "-p", "1").stdout.strip() == "postgres"
    created = psql("CREATE TABLE proof (x int); INSERT INTO proof VALUES (42); SELECT current_user")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().splitlines()[-1] == "litellm"
    wrong = psql("SELECT 1", secret="wrong")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr

    started = time.monotonic()
    docker("stop", pg)
    assert time.monotonic() - started < 5 and exit_code(pg) == 0
    assert "database system is shut down" in docker("logs", pg).stderr
    sandbox.remove(pg)

    # Recreated on the same volume, with a different password in the environment: the data and the
    # original password stay (initialisation is skipped), like the official image.
    pg = sandbox.run("postgres", POSTGRES_IMAGE, env={**env, "POSTGRES_PASSWORD": "ignored"}, options=options)
    wait_until("pg_isready after recreation", lambda: ready(pg), 60)
    kept = psql("SELECT x FROM proof")
    assert (kept.returncode, kept.stdout.strip()) == (0, "42"), kept.stderr
    logs = docker("logs", pg)
    assert "Skipping initialization" in logs.stdout
    assert "not properly shut down" not in logs.stderr

    docker("kill", "--signal", "TERM", pg)  # PostgreSQL's smart shutdown: clean once clients are gone
    wait_until(
        "exit on SIGTERM", lambda: docker("inspect", "-f", "{{.State.Running}}", pg).stdout.strip() == "false", 30
    )
    assert exit_code(pg) == 0


def test_postgres_image_trusts_loopback_and_asks_the_network_like_the_official_image(sandbox):
    # docker-library/postgres: initdb runs without --auth flags (its pg_hba.conf trusts the socket, 127.0.0.1
    # and ::1), and pg_setup_hba_conf appends one `host all all all scram-sha-256` line. So a password
    # check through 127.0.0.1 inside the container proves nothing; only another address is asked.
    password = secrets.token_hex(8)
    env = {"POSTGRES_USER": "litellm", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "litellm"}
    pg = sandbox.run("db", POSTGRES_IMAGE, env=env)
    wait_until(
        "pg_isready",
        lambda: docker("exec", pg, "pg_isready", "-U", "litellm", "-h", "127.0.0.1", check=False).returncode == 0,
        60,
    )
    hba = docker("exec", pg, "sh", "-c", 'cat "$PGDATA/pg_hba.conf"').stdout
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert rules == [
        ["local", "all", "all", "trust"],
        ["host", "all", "all", "127.0.0.1/32", "trust"],
        ["host", "all", "all", "::1/128", "trust"],
        ["local", "replication", "all", "trust"],
        ["host", "replication", "all", "127.0.0.1/32", "trust"],
        ["host", "replication", "all", "::1/128", "trust"],
        ["host", "all", "all", "all", "scram-sha-256"],
    ]

    def login_inside(host, secret, sql="SELECT 1"):
        return docker(
            "exec", "-e", f"PGPASSWORD={secret}", pg, "psql", "-h", host, "-U", "litellm", "-d", "litellm",
            "--no-password", "-Atc", sql, check=False,
        )  # fmt: skip

    assert login_inside("127.0.0.1", "wrong").returncode == 0, "loopback TCP must be trusted, as in postgres:17"
    # The service's own name resolves to its address on the network: that connection is asked, with scram.
    refused = login_inside("db", "wrong")
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr
    assert login_inside("db", password).returncode == 0
    # system_user (PostgreSQL 16+) names the method that authenticated the session: NULL when trusted.
    assert login_inside("db", password, "SELECT system_user").stdout.strip() == "scram-sha-256:litellm"
    assert login_inside("127.0.0.1", "wrong", "SELECT system_user IS NULL").stdout.strip() == "t"


# -- nginx -------------------------------------------------------------------------------------------
# What the worker proxy takes from nginx's official image, hardened as the stack runs it: no capabilities but
# CHOWN/SETGID/SETUID, a read-only root with a tmpfs /tmp, the master as root and its workers as `nginx` (101).
PROXY_CONF = """
user nginx;
pid /tmp/nginx.pid;
error_log stderr warn;
events {}
http {
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 11434 ssl;
        ssl_certificate /etc/proxy/tls.crt;
        ssl_certificate_key /etc/proxy/tls.key;
        location / { return 200 "proxied"; }
    }
}
"""


def test_nginx_image_serves_tls_hardened_as_the_worker_proxy_runs_it(sandbox, tmp_path):
    config = inspect(NGINX_IMAGE)
    assert config["StopSignal"] == "SIGQUIT"
    assert docker("run", "--rm", "--entrypoint", "id", NGINX_IMAGE, "nginx").stdout.strip() == (
        "uid=101(nginx) gid=101(nginx) groups=101(nginx)"
    )
    assert "--with-http_ssl_module" in docker("run", "--rm", NGINX_IMAGE, "nginx", "-V").stderr
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=proxy", "-addext", "subjectAltName=DNS:proxy",
         "-keyout", str(tmp_path / "tls.key"), "-out", str(tmp_path / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "tls.key").chmod(0o600)
    (tmp_path / "nginx.conf").write_text(PROXY_CONF)
    options = [
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "SETGID",
        "--cap-add", "SETUID", "--security-opt", "no-new-privileges:true", "-p", "127.0.0.1::11434",
        "-v", f"{tmp_path / 'nginx.conf'}:/etc/nginx/nginx.conf:ro", "-v", f"{tmp_path}:/etc/proxy:ro",
    ]  # fmt: skip
    proxy = sandbox.run("proxy", NGINX_IMAGE, "nginx", "-e", "stderr", "-g", "daemon off;", options=options)
    address = published(proxy, 11434)
    context = ssl.create_default_context(cafile=str(tmp_path / "tls.crt"))
    context.check_hostname = False

    def answers():
        try:
            with urllib.request.urlopen(f"https://{address}/", timeout=5, context=context) as response:
                return response.read() == b"proxied"
        except OSError:
            return False

    wait_until("the proxy answers over TLS", answers, 30)
    top = docker("top", proxy, "-eo", "pid,uid,args").stdout.splitlines()[1:]
    processes = [line.split(None, 2)[1:] for line in top]
    assert sorted(uid for uid, args in processes if args.startswith("nginx: master")) == ["0"]
    workers = [uid for uid, args in processes if args.startswith("nginx: worker")]
    assert workers and set(workers) == {"101"}, processes
    docker("stop", proxy)
    assert exit_code(proxy) == 0


# -- prometheus --------------------------------------------------------------------------------------
SELF_SCRAPE = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:9090"]
"""


def test_prometheus_image_scrapes_and_has_promtool(sandbox, tmp_path):
    config = inspect(PROMETHEUS_IMAGE)
    assert config["Entrypoint"] == ["/bin/prometheus"]
    assert config["Cmd"] == ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    assert config["User"] == "nobody" and config["WorkingDir"] == "/prometheus"
    assert "9090/tcp" in config["ExposedPorts"] and "/prometheus" in config["Volumes"]
    version = docker("run", "--rm", PROMETHEUS_IMAGE, "--version").stdout
    assert version.startswith("prometheus, version " + PROMETHEUS_IMAGE.rsplit(":", 1)[1] + "+ds"), version
    # Debian's packaged configuration passes promtool, and promtool refuses a broken one.
    checked = docker("run", "--rm", "--entrypoint", "promtool", PROMETHEUS_IMAGE, "check", "config",
                     "/etc/prometheus/prometheus.yml", check=False)  # fmt: skip
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    (tmp_path / "broken.yml").write_text("scrape_configs:\n  - job_name: x\n    scrape_interval: often\n")
    (tmp_path / "prometheus.yml").write_text(SELF_SCRAPE)
    tmp_path.chmod(0o755)
    for name in ("broken.yml", "prometheus.yml"):
        (tmp_path / name).chmod(0o644)
    broken = docker("run", "--rm", "-v", f"{tmp_path}:/cfg:ro", "--entrypoint", "promtool", PROMETHEUS_IMAGE,
                    "check", "config", "/cfg/broken.yml", check=False)  # fmt: skip
    assert broken.returncode != 0 and "FAILED" in broken.stderr, broken.stdout + broken.stderr

    prometheus = sandbox.run(
        "prometheus",
        PROMETHEUS_IMAGE,
        options=("-p", "127.0.0.1::9090", "-v", f"{tmp_path / 'prometheus.yml'}:/etc/prometheus/prometheus.yml:ro"),
    )
    base = "http://" + published(prometheus, 9090)

    def scraped_itself():
        try:
            with urllib.request.urlopen(base + "/api/v1/query?query=up", timeout=5) as response:
                result = json.loads(response.read())["data"]["result"]
        except (OSError, ValueError):
            return False
        return [(r["metric"]["job"], r["value"][1]) for r in result] == [("prometheus", "1")]

    wait_until("Prometheus scrapes itself (up == 1)", scraped_itself, 60)
    assert docker("top", prometheus, "-eo", "pid,uid,args").stdout.splitlines()[1].split()[1] == "65534"
    started = time.monotonic()
    docker("stop", prometheus)
    assert time.monotonic() - started < 10 and exit_code(prometheus) == 0
