# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The litellm_stack role's sizing of LiteLLM: its worker processes, and the PostgreSQL connections they open.

Each filter is documented in the .yml file of its name next to this one.
"""

from __future__ import annotations

from collections.abc import Mapping

# LiteLLM 1.108.7 (litellm/proxy/proxy_cli.py, LiteLLMDatabaseConnectionPool): the Prisma connection_limit of
# each worker when general_settings.database_connection_pool_limit is not set.
LITELLM_DEFAULT_POOL = 10
# PostgreSQL's superuser_reserved_connections (3) and reserved_connections (16 and later, 0): the stack leaves
# both at their defaults, and LiteLLM's own start-up line asks to stay under max_connections less these.
POSTGRES_RESERVED = 3


def _whole(value):
    """An int from an int or a string of digits (Jinja hands templated numbers over as strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def litellm_stack_sizing_problems(settings):
    """One sentence per problem with LiteLLM's workers and their database connections; empty when all is well."""
    problems = []
    workers = _whole(settings.get("litellm_stack_litellm_workers"))
    if workers is None or workers < 1:
        problems.append(
            "litellm_stack_litellm_workers must be a whole number of LiteLLM worker processes, 1 or more, "
            f"not {settings.get('litellm_stack_litellm_workers')!r}."
        )
    start_timeout = _whole(settings.get("litellm_stack_litellm_worker_start_timeout", 180))
    if start_timeout is None or start_timeout < 1:
        problems.append(
            "litellm_stack_litellm_worker_start_timeout must be a whole number of seconds, 1 or more, "
            f"not {settings.get('litellm_stack_litellm_worker_start_timeout')!r}."
        )
    max_connections = _whole(settings.get("litellm_stack_postgres_max_connections"))
    if max_connections is None or max_connections <= POSTGRES_RESERVED:
        problems.append(
            f"litellm_stack_postgres_max_connections must be a whole number above {POSTGRES_RESERVED} (PostgreSQL's "
            f"superuser_reserved_connections), not {settings.get('litellm_stack_postgres_max_connections')!r}."
        )
    general = settings.get("litellm_stack_general_settings")
    given = general.get("database_connection_pool_limit") if isinstance(general, Mapping) else None
    pool = LITELLM_DEFAULT_POOL if given is None else _whole(given)
    if pool is None or pool < 1:
        problems.append(
            "litellm_stack_general_settings.database_connection_pool_limit must be a whole number of connections "
            f"per LiteLLM worker, 1 or more, not {given!r}."
        )
    if problems or not settings.get("database"):
        return problems
    gateways = _whole(settings.get("gateways_per_database")) or 1
    demand = pool * workers * gateways
    budget = max_connections - POSTGRES_RESERVED
    if demand > budget:
        source = "" if given is not None else ", LiteLLM's default"
        times_gateways = f" x {gateways} gateways" if gateways > 1 else ""
        problems.append(
            f"LiteLLM would open up to {demand} connections to PostgreSQL: litellm_stack_litellm_workers ({workers}) x "
            f"litellm_stack_general_settings.database_connection_pool_limit ({pool}{source}){times_gateways}, "
            f"more than litellm_stack_postgres_max_connections ({max_connections}) less PostgreSQL's "
            f"{POSTGRES_RESERVED} superuser_reserved_connections ({budget}). Lower the workers or the pool, "
            "or raise max_connections."
        )
    return problems


class FilterModule:
    def filters(self):
        return {"litellm_stack_sizing_problems": litellm_stack_sizing_problems}
