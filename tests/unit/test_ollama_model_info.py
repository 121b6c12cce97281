"""ollama_model_info: which models it reports, what it says is missing, and the GPU share it adds."""

from ansible_collections.llmstack.gateway.plugins.modules.ollama_model_info import GATHER, gathered, key_or_none, select

# Entries shaped as Ollama's GET /api/tags and GET /api/ps answer them.
TAGS = [
    {
        "name": "tinyllama:latest",
        "model": "tinyllama:latest",
        "size": 637700138,
        "digest": "2644915ede352ea7bdfaff0bfac0be74c719d5d5202acb63a6fb095b52f394a4",
        "details": {"format": "gguf", "family": "llama", "parameter_size": "1B", "quantization_level": "Q4_0"},
    },
    {
        "name": "bge-m3:latest",
        "model": "bge-m3:latest",
        "size": 1157672605,
        "digest": "790764642607164e4fd5bcd5ef1b9e8fc03d2a22eb2f0b5e14e43ebd0d8d43b6",
        "details": {"format": "gguf", "family": "bert", "parameter_size": "566.70M", "quantization_level": "F16"},
    },
]


def ps(size, size_vram):
    return [{"name": "tinyllama:latest", "model": "tinyllama:latest", "size": size, "size_vram": size_vram}]


def wanted(*names):
    return {key_or_none(name): name for name in names}


def test_no_names_reports_every_model_and_nothing_missing():
    models, loaded, missing = select(TAGS, ps(100, 100), {})
    assert [m["name"] for m in models] == ["tinyllama:latest", "bge-m3:latest"]
    assert [m["name"] for m in loaded] == ["tinyllama:latest"]
    assert missing == []


def test_names_are_matched_the_way_ollama_matches_them_and_missing_ones_keep_their_spelling():
    models, loaded, missing = select(TAGS, ps(100, 100), wanted("registry.ollama.ai/library/BGE-M3", "gpt-oss:20b"))
    assert [m["name"] for m in models] == ["bge-m3:latest"]
    assert loaded == []
    assert missing == ["gpt-oss:20b"]


def test_gpu_fraction_is_the_vram_share_of_a_loaded_model():
    assert select(TAGS, ps(1360977920, 1360977920), {})[1][0]["gpu_fraction"] == 1.0
    assert select(TAGS, ps(1000, 0), {})[1][0]["gpu_fraction"] == 0.0
    assert select(TAGS, ps(3000, 1000), {})[1][0]["gpu_fraction"] == 0.333
    # Ollama leaves size out (or 0) for a model it is still loading: no division by zero.
    assert select(TAGS, ps(0, 0), {})[1][0]["gpu_fraction"] == 0.0


def test_an_entry_with_a_name_ollama_would_refuse_is_not_selected():
    odd = [{"name": "bad name!", "model": "bad name!"}]
    assert select(odd, [], wanted("tinyllama")) == ([], [], ["tinyllama"])


class CountingClient:
    """Stands in for OllamaClient: answers from TAGS and ps() and records which endpoints were asked."""

    def __init__(self):
        self.asked = []

    def installed_models(self):
        self.asked.append("/api/tags")
        return [dict(entry) for entry in TAGS]

    def loaded_models(self):
        self.asked.append("/api/ps")
        return ps(100, 0)

    def version(self):
        self.asked.append("/api/version")
        return "0.32.15"


def test_gather_installed_sends_one_request_and_reports_only_what_it_read():
    client = CountingClient()
    result = gathered(client, ["installed"], wanted("tinyllama", "gpt-oss:20b"))
    assert client.asked == ["/api/tags"]
    assert set(result) == {"models", "missing"}
    assert [m["name"] for m in result["models"]] == ["tinyllama:latest"]
    assert result["missing"] == ["gpt-oss:20b"]


def test_gather_loaded_reads_only_ps_and_leaves_out_what_it_did_not_read():
    client = CountingClient()
    result = gathered(client, ["loaded"], {})
    assert client.asked == ["/api/ps"]
    # No models and no missing: an empty list would claim Ollama has nothing installed.
    assert set(result) == {"loaded"}
    assert result["loaded"][0]["size_vram"] == 0


def test_gather_defaults_to_all_three_requests():
    client = CountingClient()
    result = gathered(client, list(GATHER), {})
    assert sorted(client.asked) == ["/api/ps", "/api/tags", "/api/version"]
    assert set(result) == {"version", "models", "loaded", "missing"}
