# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a host's stack runs, as stack_backup sees it (documented in the .yml files next to this one)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# `docker compose ps --format` fields, in the order stack_backup asks for them.
PS_FIELDS = ("image", "state", "id")


def stack_inventory(compose, ps_lines=None, db_name="litellm", db_user="llmproxy"):
    """Services and images of a deployed compose file, the containers `docker compose ps` lists, and the database.

    compose is the parsed compose file (None when there is none); ps_lines are `Service|Image|State|ID` lines.
    """
    if compose is not None and not isinstance(compose, Mapping):
        raise AnsibleFilterError(f"stack_inventory expects a parsed compose file, got {type(compose).__name__}")
    services = dict((compose or {}).get("services") or {})
    containers = {}
    for line in ps_lines or []:
        fields = str(line).split("|")
        if len(fields) == 1 + len(PS_FIELDS):
            containers[fields[0]] = dict(zip(PS_FIELDS, fields[1:]))
    db_env = (services.get("db") or {}).get("environment") or {}
    if not isinstance(db_env, Mapping):
        # Compose also takes KEY=VALUE lines.
        db_env = dict(str(item).partition("=")[::2] for item in db_env)
    declared = {name: str((spec or {}).get("image") or "") for name, spec in services.items()}
    return {
        "services": declared,
        "containers": containers,
        # The image a service runs: its container's, else the one the compose file names.
        "images": {name: containers.get(name, {}).get("image") or image for name, image in declared.items()},
        "running": any(container["state"] == "running" for container in containers.values()),
        "db_name": db_env.get("POSTGRES_DB", db_name),
        "db_user": db_env.get("POSTGRES_USER", db_user),
    }


def image_changes(running, wanted, variables):
    """The services whose running image differs from the wanted one, each with the variable that sets it."""
    return [
        {"service": service, "variable": variables.get(service, ""), "from": image, "to": wanted[service]}
        for service, image in running.items()
        if service in wanted and image != wanted[service]
    ]


class FilterModule:
    def filters(self):
        return {"stack_inventory": stack_inventory, "image_changes": image_changes}
