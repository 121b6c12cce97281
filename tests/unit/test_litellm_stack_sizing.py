"""LiteLLM's worker count and the PostgreSQL connections its workers open, as the role checks them."""

import pytest
from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack_sizing import (
    FilterModule,
    litellm_stack_sizing_problems,
)


def settings(**overrides):
    base = {
        "litellm_stack_litellm_workers": 2,
        "litellm_stack_postgres_max_connections": 100,
        "litellm_stack_general_settings": {},
        "database": True,
    }
    base.update(overrides)
    return base


def test_the_filter_is_registered():
    assert FilterModule().filters()["litellm_stack_sizing_problems"] is litellm_stack_sizing_problems


@pytest.mark.parametrize("workers", [1, 2, 9, "9"])
def test_workers_within_the_default_budget_pass(workers):
    # 9 workers x LiteLLM's default pool of 10 = 90, within 100 less the 3 reserved connections.
    assert litellm_stack_sizing_problems(settings(litellm_stack_litellm_workers=workers)) == []


def test_one_worker_too_many_for_the_default_pool_names_every_variable():
    [problem] = litellm_stack_sizing_problems(settings(litellm_stack_litellm_workers=10))
    assert problem.startswith("LiteLLM would open up to 100 connections to PostgreSQL")
    for words in (
        "litellm_stack_litellm_workers (10)",
        "database_connection_pool_limit (10, LiteLLM's default)",
        "litellm_stack_postgres_max_connections (100)",
        "3 superuser_reserved_connections (97)",
    ):
        assert words in problem


def test_the_pool_from_general_settings_and_max_connections_count():
    assert (
        litellm_stack_sizing_problems(
            settings(
                litellm_stack_litellm_workers=16, litellm_stack_general_settings={"database_connection_pool_limit": 6}
            )
        )
        == []
    )
    [problem] = litellm_stack_sizing_problems(
        settings(litellm_stack_litellm_workers=4, litellm_stack_postgres_max_connections=40)
    )
    assert "up to 40 connections" in problem and "(37)" in problem
    assert (
        litellm_stack_sizing_problems(
            settings(litellm_stack_litellm_workers=16, litellm_stack_postgres_max_connections=200)
        )
        == []
    )


def test_gateways_sharing_one_database_multiply_the_demand():
    [problem] = litellm_stack_sizing_problems(settings(litellm_stack_litellm_workers=4, gateways_per_database=3))
    assert "up to 120 connections" in problem and "x 3 gateways" in problem


def test_without_a_database_only_the_numbers_themselves_are_checked():
    assert litellm_stack_sizing_problems(settings(litellm_stack_litellm_workers=64, database=False)) == []


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"litellm_stack_litellm_workers": 0}, "litellm_stack_litellm_workers"),
        ({"litellm_stack_litellm_workers": "many"}, "litellm_stack_litellm_workers"),
        ({"litellm_stack_litellm_workers": True}, "litellm_stack_litellm_workers"),
        ({"litellm_stack_postgres_max_connections": 3}, "litellm_stack_postgres_max_connections"),
        (
            {"litellm_stack_general_settings": {"database_connection_pool_limit": 0}},
            "litellm_stack_general_settings.database_connection_pool_limit",
        ),
    ],
)
def test_bad_numbers_are_named_and_stop_before_the_budget(overrides, variable):
    [problem] = litellm_stack_sizing_problems(settings(**overrides, database=False))
    assert problem.startswith(variable)


@pytest.mark.parametrize("timeout", [0, -5, "soon", None])
def test_a_worker_start_timeout_below_one_second_is_refused(timeout):
    [problem] = litellm_stack_sizing_problems(settings(litellm_stack_litellm_worker_start_timeout=timeout))
    assert problem.startswith("litellm_stack_litellm_worker_start_timeout must be a whole number of seconds")
