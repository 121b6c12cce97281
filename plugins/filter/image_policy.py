# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which image references a run may use: pinned by a version tag (a digest on top is welcome), not below the
product's version floor, not a deny-listed release (documented in image_policy_problems.yml and
image_policy_waivers.yml next to this one)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Docker's reference grammar (distribution/reference): a domain is the first component when it holds a dot or
# a port, or is localhost; path components are lower case, separated by ".", "_", "__" or dashes.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*:[0-9]+)"
REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[^@]*))?$"
)
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# A version is what a tag starts with: LiteLLM's "main-v1.84.0-stable", Ollama's "0.33.3-rocm", PostgreSQL's
# "17.6-bookworm" and "17" (major only). Anything after the numbers is a variant, not part of the version.
VERSION = re.compile(r"^(?:main-)?v?(?P<numbers>[0-9]+(?:\.[0-9]+)*)(?:[-_+].*)?$")
FORMS = "name:tag, registry:port/name:tag or name:tag@sha256:<64 hex digits>"
EXCEPTIONS = "litellm_stack_image_floor_exceptions"
PRODUCT_NAMES = {"ollama": "Ollama", "litellm": "LiteLLM", "postgres": "PostgreSQL", "nginx": "nginx"}


def parse_image(reference):
    """The parts of an image reference (domain, path, tag, digest), or None when it is not one."""
    match = REFERENCE.match(str(reference or ""))
    return match.groupdict() if match else None


def _version(tag):
    match = VERSION.match(tag or "")
    return tuple(int(part) for part in match.group("numbers").split(".")) if match else None


def _text(version):
    return ".".join(map(str, version))


def _same(left, right):
    """1.82.7 and 1.82.7.0 name one release."""
    width = max(len(left), len(right))
    return left + (0,) * (width - len(left)) == right + (0,) * (width - len(right))


def _form_problem(variable, reference):
    """The reference itself: parseable, tagged, not "latest"; None when it is pinned."""
    parts = parse_image(reference)
    if parts is None or (parts["digest"] is not None and not DIGEST.match(parts["digest"])):
        return f"{variable} is not an image reference ({reference!r}): write {FORMS}."
    name = f"{parts['domain']}/{parts['path']}" if parts["domain"] else parts["path"]
    if not parts["tag"]:
        return (
            f"{variable} ({reference}) has no tag, so nothing says which version runs "
            "(the tag is what the floor check reads): "
            f"write {name}:<version> (a digest may follow, {name}:<version>@sha256:<64 hex digits>)."
        )
    if parts["tag"] == "latest" or parts["tag"].endswith("-latest"):
        return (
            f"{variable} ({reference}) uses the tag {parts['tag']}, which moves with every release: "
            f"pin a version instead, {name}:<version> (or {name}:<version>@sha256:<64 hex digits>)."
        )
    return None


def _advisories_above(advisories, version, major=None):
    """The advisories a version is still exposed to: fixed in a later release (of its major, for PostgreSQL)."""
    exposed = []
    for advisory in advisories:
        fixed = advisory.get("fixed")
        if isinstance(fixed, Mapping):
            fixed = fixed.get(str(major))
        if fixed is not None and version < _version(str(fixed)):
            exposed.append(advisory)
    return exposed


def _ids(advisories):
    ids = []
    for advisory in advisories:
        ids += [advisory["id"], *(advisory.get("aliases") or [])]
    return ", ".join(ids)


def _floor_problem(variable, reference, product, table):
    """Below the floor, or no version to compare with it; None when the version is at or above the floor."""
    name = PRODUCT_NAMES.get(product, product)
    tag = parse_image(reference)["tag"]
    version = _version(tag)
    advisories = table.get("advisories") or []
    if product == "postgres":
        supported = {str(major) for major in table.get("supported_majors") or []}
        if version is None:
            return f"{variable} ({reference}): the tag {tag} names no PostgreSQL version; pin one such as 17.11."
        major = str(version[0])
        if major not in supported:
            return (
                f"{variable} ({reference}) is PostgreSQL {major}, which gets no security fixes any more "
                f"(supported: {', '.join(sorted(supported, key=int))}); move to a supported major."
            )
        if len(version) == 1:
            # postgres:17 follows the newest 17.x, which is never below 17's floor.
            return None
        exposed = _advisories_above(advisories, version, major)
        floor = max((_version(str(a["fixed"][major])) for a in exposed), default=None)
    else:
        if version is None:
            floor = max((_version(str(a["fixed"])) for a in advisories), default=None)
            return (
                f"{variable} ({reference}): the tag {tag} carries no {name} version to compare with its floor "
                f"{_text(floor)}; pin a version tag such as {_text(floor)} or later."
                if floor
                else None
            )
        exposed = _advisories_above(advisories, version)
        floor = max((_version(str(a["fixed"])) for a in exposed), default=None)
    if not exposed:
        return None
    return (
        f"{variable} ({reference}) is {name} {_text(version)}, below its floor {_text(floor)} "
        f"({_ids(exposed)}): pin {_text(floor)} or later"
    )


def _denied_problem(variable, reference, product, table):
    version = _version(parse_image(reference)["tag"])
    if version is None:
        return None
    for entry in table.get("denied") or []:
        if any(_same(version, _version(str(bad))) for bad in entry.get("versions") or []):
            return (
                f"{variable} ({reference}) is {PRODUCT_NAMES.get(product, product)} {_text(version)}, "
                f"{entry['why']} ({', '.join(entry['ids'])}); no exception applies: pin another release."
            )
    return None


def _reasons(exceptions, variables):
    """The exception reasons by variable, and the problems with the exceptions themselves."""
    problems = []
    if exceptions in (None, ""):
        return {}, problems
    if not isinstance(exceptions, Mapping):
        return {}, [f"{EXCEPTIONS} must map image variables to reasons."]
    reasons = {}
    for variable, reason in exceptions.items():
        if variable not in variables:
            problems.append(
                f"{EXCEPTIONS} names {variable}, which is none of the image variables ({', '.join(variables)})."
            )
        elif not isinstance(reason, str) or not reason.strip():
            problems.append(
                f"{EXCEPTIONS}.{variable} must be the reason, in words, for running that image below its floor."
            )
        else:
            reasons[variable] = reason.strip()
    return reasons, problems


def _evaluate(images, floors, exceptions):
    if not isinstance(images, Mapping):
        raise AnsibleFilterError("image_policy expects the image variables by name, each {image, product}")
    floors = floors or {}
    reasons, problems = _reasons(exceptions, list(images))
    waived = []
    for variable, given in images.items():
        entry = given if isinstance(given, Mapping) else {"image": given}
        reference, product = entry.get("image"), entry.get("product")
        problem = _form_problem(variable, reference)
        if problem is None and product in floors:
            table = floors[product]
            problem = _denied_problem(variable, reference, product, table)
            if problem is None:
                below = _floor_problem(variable, reference, product, table)
                if below and variable in reasons:
                    waived.append(f"{variable} ({reference}) runs below its floor because: {reasons[variable]}")
                elif below:
                    problem = f"{below.rstrip('.')}, or give the reason to run it anyway in {EXCEPTIONS}.{variable}."
        if problem:
            problems.append(problem)
    return problems, waived


def image_policy_problems(images, floors=None, exceptions=None):
    """One sentence per image that may not run, each naming its variable and what to write; empty when all may."""
    return _evaluate(images, floors, exceptions)[0]


def image_policy_waivers(images, floors=None, exceptions=None):
    """One sentence per image that runs below its floor because an exception gives the reason."""
    return _evaluate(images, floors, exceptions)[1]


class FilterModule:
    def filters(self):
        return {"image_policy_problems": image_policy_problems, "image_policy_waivers": image_policy_waivers}
