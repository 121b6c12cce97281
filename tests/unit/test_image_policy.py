"""Image references: pinned by a version tag (a digest welcome), not below their product's floor, never a
deny-listed release; checked against the role's real floor table (roles/litellm_stack/vars/image_floors.yml)."""

from pathlib import Path

import pytest
import yaml
from ansible_collections.llmstack.gateway.plugins.filter.image_policy import (
    image_policy_problems,
    image_policy_waivers,
    parse_image,
)

REPO = Path(__file__).resolve().parents[2]
FLOORS = yaml.safe_load((REPO / "roles/litellm_stack/vars/image_floors.yml").read_text())["litellm_stack_image_floors"]
DEFAULTS = yaml.safe_load((REPO / "roles/litellm_stack/defaults/main.yml").read_text())
DIGEST = "sha256:" + "0123456789abcdef" * 4
PRODUCTS = {
    "litellm_stack_ollama_image": "ollama",
    "litellm_stack_litellm_image": "litellm",
    "litellm_stack_postgres_image": "postgres",
}


def problems(variable, image, exceptions=None):
    return image_policy_problems({variable: {"image": image, "product": PRODUCTS.get(variable)}}, FLOORS, exceptions)


def waivers(variable, image, exceptions):
    return image_policy_waivers({variable: {"image": image, "product": PRODUCTS.get(variable)}}, FLOORS, exceptions)


@pytest.mark.parametrize(
    ("variable", "image"),
    [
        # The role's defaults.
        ("litellm_stack_ollama_image", DEFAULTS["litellm_stack_ollama_image"]),
        ("litellm_stack_litellm_image", DEFAULTS["litellm_stack_litellm_image"]),
        ("litellm_stack_postgres_image", DEFAULTS["litellm_stack_postgres_image"]),
        # The stand-ins the tests run (tests/images/README.md), and the retag the operations scenario upgrades to.
        ("litellm_stack_ollama_image", "local/ollama-double:0.32.15"),
        ("litellm_stack_litellm_image", "local/litellm:1.108.7"),
        ("litellm_stack_litellm_image", "local/litellm:1.108.8-broken"),
        ("litellm_stack_postgres_image", "local/postgres:17"),
        ("litellm_stack_postgres_image", "local/postgres:15"),
        ("litellm_stack_postgres_image", "local/postgres:17.12"),
        # Every accepted form: a registry with a port, a digest after the tag, a lab mirror's own name.
        ("litellm_stack_ollama_image", "registry.lab:5000/mirror/ollama:0.33.3"),
        ("litellm_stack_ollama_image", f"ollama/ollama:0.33.3@{DIGEST}"),
        ("litellm_stack_ollama_image", f"registry.lab:5000/ollama/ollama:v0.33.3-rocm@{DIGEST}"),
        ("litellm_stack_ollama_image", "localhost/ollama:0.17.1"),
        ("litellm_stack_litellm_image", "ghcr.io/berriai/litellm:main-v1.84.0-stable"),
        ("litellm_stack_litellm_image", "ghcr.io/berriai/litellm:v1.84.0"),
        ("litellm_stack_postgres_image", "postgres:17.11-alpine"),
        ("litellm_stack_postgres_image", "postgres:18.6"),
        ("litellm_stack_postgres_image", "docker.io/library/postgres:16-bookworm"),
        ("litellm_stack_postgres_image", f"postgres:15.19@{DIGEST}"),
        ("nvidia_container_toolkit_smoke_test_image", "nvidia/cuda:12.4.1-base-ubuntu22.04"),
        ("nvidia_container_toolkit_smoke_test_image", "nvidia/cuda:main"),
    ],
)
def test_pinned_images_at_or_above_their_floor_pass(variable, image):
    assert problems(variable, image) == []


@pytest.mark.parametrize(
    ("variable", "image", "words"),
    [
        ("litellm_stack_ollama_image", "ollama/ollama:latest", "uses the tag latest, which moves"),
        ("litellm_stack_litellm_image", "ghcr.io/berriai/litellm:main-latest", "uses the tag main-latest"),
        ("nvidia_container_toolkit_smoke_test_image", "nvidia/cuda:latest", "pin a version instead, nvidia/cuda:"),
        ("litellm_stack_ollama_image", "ollama/ollama", "has no tag"),
        ("litellm_stack_ollama_image", f"ollama/ollama@{DIGEST}", "has no tag, so nothing says which version runs"),
        ("litellm_stack_postgres_image", "registry.lab:5000/postgres", "write registry.lab:5000/postgres:<version>"),
        ("litellm_stack_ollama_image", "", "is not an image reference"),
        ("litellm_stack_ollama_image", "Ollama/Ollama:0.33.3", "is not an image reference"),
        ("litellm_stack_ollama_image", "ollama/ollama:0.33.3@sha256:abc", "name:tag@sha256:<64 hex digits>"),
        ("litellm_stack_ollama_image", f"ollama/ollama:0.33.3@md5:{'0' * 32}", "is not an image reference"),
        ("litellm_stack_ollama_image", "ollama/ollama:0.33 .3", "is not an image reference"),
    ],
)
def test_unpinned_or_malformed_images_are_refused_naming_the_variable(variable, image, words):
    found = problems(variable, image)
    assert len(found) == 1
    assert found[0].startswith(variable)
    assert words in found[0]


@pytest.mark.parametrize(
    ("variable", "image", "words"),
    [
        (
            "litellm_stack_ollama_image",
            "ollama/ollama:0.17.0",
            "is Ollama 0.17.0, below its floor 0.17.1 (CVE-2026-7482, GHSA-x8qc-fggm-mpqg): pin 0.17.1 or later",
        ),
        (
            "litellm_stack_ollama_image",
            "ollama/ollama:0.1.30",
            "below its floor 0.17.1 (CVE-2026-7482, GHSA-x8qc-fggm-mpqg, CVE-2024-37032)",
        ),
        (
            "litellm_stack_litellm_image",
            "ghcr.io/berriai/litellm:v1.83.10",
            "is LiteLLM 1.83.10, below its floor 1.84.0 (CVE-2026-49468, GHSA-4xpc-pv4p-pm3w)",
        ),
        ("litellm_stack_litellm_image", "ghcr.io/berriai/litellm:v1.44.8", "CVE-2024-6587, GHSA-g26j-5385-hhw3"),
        (
            "litellm_stack_postgres_image",
            "postgres:16.10",
            "is PostgreSQL 16.10, below its floor 16.15 (CVE-2026-15742, CVE-2026-6473, CVE-2026-6637, "
            "CVE-2026-2005, CVE-2026-2006)",
        ),
        ("litellm_stack_postgres_image", "postgres:17.10-alpine", "is PostgreSQL 17.10, below its floor 17.11"),
        ("litellm_stack_postgres_image", "postgres:17.1", "below its floor 17.11"),
        ("litellm_stack_postgres_image", "postgres:18.4", "below its floor 18.6 (CVE-2026-15742)"),
        ("litellm_stack_postgres_image", "postgres:14", "is PostgreSQL 14, which gets no security fixes any more"),
        ("litellm_stack_postgres_image", "postgres:13.22", "is PostgreSQL 13, which gets no security fixes"),
        ("litellm_stack_postgres_image", "postgres:alpine", "the tag alpine names no PostgreSQL version"),
        ("litellm_stack_ollama_image", "ollama/ollama:rocm", "the tag rocm carries no Ollama version"),
        ("litellm_stack_litellm_image", "ghcr.io/berriai/litellm:main-stable", "compare with its floor 1.84.0"),
    ],
)
def test_below_the_floor_is_refused_naming_version_floor_and_advisories(variable, image, words):
    found = problems(variable, image)
    assert len(found) == 1
    assert found[0].startswith(f"{variable} ({image})")
    assert words in found[0]
    assert found[0].endswith(f"or give the reason to run it anyway in litellm_stack_image_floor_exceptions.{variable}.")


def test_a_lab_mirror_renaming_the_repository_keeps_the_variables_product():
    found = problems("litellm_stack_litellm_image", "registry.lab:5000/ai/gateway-proxy:1.83.0")
    assert "is LiteLLM 1.83.0, below its floor 1.84.0" in found[0]


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/berriai/litellm:v1.82.7",
        "local/litellm:1.82.8",
        f"ghcr.io/berriai/litellm:main-v1.82.8-stable@{DIGEST}",
    ],
)
def test_the_trojaned_litellm_releases_are_refused_whatever_the_reason(image):
    exceptions = {"litellm_stack_litellm_image": "we audited it"}
    found = problems("litellm_stack_litellm_image", image, exceptions)
    assert len(found) == 1
    assert "a release trojaned with a credential stealer on PyPI in March 2026 (MAL-2026-2144" in found[0]
    assert "no exception applies" in found[0]
    assert waivers("litellm_stack_litellm_image", image, exceptions) == []


def test_a_reason_lets_a_version_below_its_floor_run_and_is_said():
    exceptions = {"litellm_stack_postgres_image": "  restore drill of the 2025 backup  "}
    assert problems("litellm_stack_postgres_image", "postgres:16.10", exceptions) == []
    assert waivers("litellm_stack_postgres_image", "postgres:16.10", exceptions) == [
        "litellm_stack_postgres_image (postgres:16.10) runs below its floor because: restore drill of the 2025 backup"
    ]


def test_a_reason_does_not_pass_latest_or_a_missing_tag():
    exceptions = {"litellm_stack_ollama_image": "testing"}
    assert "uses the tag latest" in problems("litellm_stack_ollama_image", "ollama/ollama:latest", exceptions)[0]
    assert "has no tag" in problems("litellm_stack_ollama_image", "ollama/ollama", exceptions)[0]


def test_a_reason_for_one_image_does_not_cover_another():
    images = {
        "litellm_stack_ollama_image": {"image": "ollama/ollama:0.12.0", "product": "ollama"},
        "litellm_stack_postgres_image": {"image": "postgres:16.10", "product": "postgres"},
    }
    found = image_policy_problems(images, FLOORS, {"litellm_stack_ollama_image": "lab repro"})
    assert len(found) == 1
    assert found[0].startswith("litellm_stack_postgres_image (postgres:16.10)")


@pytest.mark.parametrize(
    ("exceptions", "words"),
    [
        ({"litellm_stack_ollama_image": ""}, "litellm_stack_image_floor_exceptions.litellm_stack_ollama_image must"),
        ({"litellm_stack_ollama_image": "   "}, "must be the reason, in words"),
        ({"litellm_stack_ollama_image": True}, "must be the reason, in words"),
        ({"litellm_stack_olama_image": "typo"}, "names litellm_stack_olama_image, which is none of the image"),
        (["litellm_stack_ollama_image"], "must map image variables to reasons"),
    ],
)
def test_an_exception_without_a_reason_or_for_no_image_is_refused(exceptions, words):
    found = problems("litellm_stack_ollama_image", "ollama/ollama:0.12.0", exceptions)
    assert any(words in problem for problem in found), found
    # The floor still holds: an exception that is not valid waives nothing.
    assert any("below its floor 0.17.1" in problem for problem in found), found


def test_versions_compare_as_numbers_not_text():
    assert problems("litellm_stack_litellm_image", "local/litellm:1.100.0") == []
    assert problems("litellm_stack_postgres_image", "postgres:17.9") != []
    assert problems("litellm_stack_postgres_image", "postgres:17.11") == []


def test_parse_image_splits_registry_path_tag_and_digest():
    assert parse_image(f"registry.lab:5000/ai/ollama:0.33.3@{DIGEST}") == {
        "domain": "registry.lab:5000",
        "path": "ai/ollama",
        "tag": "0.33.3",
        "digest": DIGEST,
    }
    assert parse_image("postgres:17")["domain"] is None
    assert parse_image("a:b:c") is None


def test_every_advisory_in_the_floor_table_names_its_source_and_a_parseable_fix():
    for product, table in FLOORS.items():
        for advisory in table["advisories"]:
            assert advisory["id"].startswith(("CVE-", "GHSA-")), advisory
            assert advisory["sources"], advisory
            assert all(source.startswith("https://") for source in advisory["sources"])
            fixed = advisory["fixed"]
            if product == "postgres":
                assert set(fixed) == {str(major) for major in table["supported_majors"]}, advisory["id"]
        for entry in table.get("denied") or []:
            assert entry["ids"] and entry["why"] and entry["sources"]
