"""stack_backup's view of a deployed stack, from a compose file as litellm_stack renders it and real ps lines."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.stack_backup import image_changes, stack_inventory

COMPOSE = {
    "services": {
        "ollama": {"image": "ollama/ollama:0.33.3"},
        "litellm": {"image": "ghcr.io/berriai/litellm:v1.108.7"},
        "db": {"image": "postgres:16.10", "environment": {"POSTGRES_DB": "gateway", "POSTGRES_USER": "proxy"}},
    }
}
PS = [
    "db|postgres:16.10|running|0f3c",
    "litellm|ghcr.io/berriai/litellm:v1.100.0|exited|9a1b",
    "garbage line",
]


def test_running_images_prefer_the_containers_and_fall_back_to_the_compose_file():
    inventory = stack_inventory(COMPOSE, PS)
    assert inventory["images"] == {
        "ollama": "ollama/ollama:0.33.3",
        "litellm": "ghcr.io/berriai/litellm:v1.100.0",
        "db": "postgres:16.10",
    }
    assert inventory["containers"]["litellm"] == {
        "image": "ghcr.io/berriai/litellm:v1.100.0",
        "state": "exited",
        "id": "9a1b",
    }
    assert set(inventory["containers"]) == {"db", "litellm"}
    assert inventory["running"] is True
    assert (inventory["db_name"], inventory["db_user"]) == ("gateway", "proxy")


def test_no_compose_file_is_an_empty_stack_with_the_default_database():
    inventory = stack_inventory(None, [], "litellm", "llmproxy")
    assert inventory == {
        "services": {},
        "containers": {},
        "images": {},
        "running": False,
        "db_name": "litellm",
        "db_user": "llmproxy",
    }


def test_database_environment_as_a_list_of_assignments():
    compose = {"services": {"db": {"image": "postgres:17", "environment": ["POSTGRES_USER=alice", "PGDATA=/x"]}}}
    assert stack_inventory(compose, [], "litellm", "llmproxy")["db_user"] == "alice"


def test_a_compose_file_that_is_not_a_mapping_is_refused():
    with pytest.raises(AnsibleFilterError, match="parsed compose file"):
        stack_inventory("services: {}", [])


def test_image_changes_name_the_variable_and_skip_unknown_and_unchanged_services():
    running = {"ollama": "ollama/ollama:0.33.3", "litellm": "ghcr.io/berriai/litellm:v1.100.0", "extra": "x:1"}
    wanted = {"ollama": "ollama/ollama:0.33.3", "litellm": "ghcr.io/berriai/litellm:v1.108.7", "db": "postgres:17"}
    variables = {"ollama": "litellm_stack_ollama_image", "litellm": "litellm_stack_litellm_image"}
    assert image_changes(running, wanted, variables) == [
        {
            "service": "litellm",
            "variable": "litellm_stack_litellm_image",
            "from": "ghcr.io/berriai/litellm:v1.100.0",
            "to": "ghcr.io/berriai/litellm:v1.108.7",
        }
    ]
