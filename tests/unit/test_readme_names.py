"""Every file, directory, playbook, inventory, make target and molecule scenario the READMEs name exists.

A README that sends users to a path that is not there (`-i inventories/lab-fleet` once did) is a defect
like any other. The READMEs' code (fenced blocks and inline code) and relative links are read; each name
that points into this repository is checked against the checkout, `make X` against the Makefile's targets,
and molecule scenario names against molecule/. Paths on managed hosts (absolute), placeholders (`<x>`),
globs and outputs the tools write (reports/, ./rendered, tarballs) are not repository names.
"""

import itertools
import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# First components that make a relative name a name in this repository (the collection's layout).
TOP_LEVEL = {
    ".config",
    "ansible.cfg",
    "changelogs",
    "collections",
    "constraints-dev.txt",
    "execution-environment.yml",
    "galaxy.yml",
    "inventories",
    "LICENSE",
    "Makefile",
    "meta",
    "molecule",
    "playbooks",
    "plugins",
    "pyproject.toml",
    "README.md",
    "requirements.yml",
    "roles",
    "scripts",
    "site.yml",
    "tests",
}
TOP_LEVEL_PATTERN = re.compile(r"^(requirements|constraints)[\w.-]*\.(txt|yml)$")
# Inside a role's README, names relative to the role.
ROLE_DIRS = {"defaults", "files", "handlers", "meta", "tasks", "templates", "vars"}
# What ansible-playbook writes beside an inventory (fleet_report's default directory, the lab CA).
GENERATED = re.compile(r"^inventories/[^/]+/(reports|\.llmstack-ca)(/|$)")

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
SHELL_LANGS = {"sh", "bash", "shell", "console", ""}


def readmes():
    found = [REPO / "README.md"]
    for parent in ("roles", "inventories"):
        found += sorted((REPO / parent).glob("*/README.md"))
    return found


def makefile_targets():
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.MULTILINE))


def scenarios():
    return {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")}


class Doc:
    """One README: its fenced blocks and its inline code, kept apart."""

    def __init__(self, path):
        self.path = path
        self.text = path.read_text()
        self.blocks = [(m.group(1), m.group(2)) for m in FENCE.finditer(self.text)]
        prose = FENCE.sub("", self.text)
        self.spans = SPAN.findall(prose)
        self.links = LINK.findall(prose)
        self.prose = prose

    @property
    def rel(self):
        return self.path.relative_to(REPO).as_posix()

    def bases(self):
        """Where a relative name in this README may point: the repository, and a role's own directory."""
        if self.path.parent.parent.name == "roles":
            return [REPO, self.path.parent]
        return [REPO]

    def shell_lines(self):
        """Each command of the shell blocks (continuations joined, comments cut) and of the inline code."""
        for lang, body in self.blocks:
            if lang not in SHELL_LANGS:
                continue
            yield from body.replace("\\\n", " ").splitlines()
        yield from self.spans


def split_commands(line):
    """The argv of each command on a line; None where the line is not shell (tables, prose in code)."""
    line = re.sub(r"(^|\s)#.*$", "", line)
    try:
        words = shlex.split(line, comments=False)
    except ValueError:
        return []
    commands, current = [], []
    for word in words:
        if word in {"&&", "||", ";", "|"}:
            commands.append(current)
            current = []
        else:
            current.append(word)
    commands.append(current)
    return [c for c in commands if c]


def is_repo_name(token, doc):
    if not token or token.startswith(("/", "~", "http:", "https:", "$")) or any(c in token for c in "<>*{}$"):
        return False
    first = token.split("/", 1)[0]
    if first in TOP_LEVEL or TOP_LEVEL_PATTERN.match(first):
        return True
    return doc.path.parent.parent.name == "roles" and "/" in token and first in ROLE_DIRS


def candidate_tokens(text):
    for raw in re.split(r"[\s,;|()\"']+", text):
        token = raw.rsplit("=", 1)[-1].rstrip(".:")
        token = token.removeprefix("./")
        if token:
            yield token


def exists(token, doc):
    token = token.rstrip("/")
    if any((base / token).exists() or (base / token).is_symlink() for base in doc.bases()):
        return True
    # "each role has meta/argument_specs.yml": a role-relative name in a README that is not a role's.
    roles = [p for p in (REPO / "roles").iterdir() if p.is_dir()]
    return token.split("/", 1)[0] in ROLE_DIRS and all((role / token).exists() for role in roles)


DOCS = [Doc(p) for p in readmes()]
IDS = [d.rel for d in DOCS]


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_paths_named_in_code_exist(doc):
    texts = [body for _, body in doc.blocks] + doc.spans
    missing = sorted(
        {
            token
            for text in texts
            for token in candidate_tokens(text)
            if is_repo_name(token, doc) and not GENERATED.match(token) and not exists(token, doc)
        }
    )
    assert not missing, f"{doc.rel} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_relative_links_resolve(doc):
    missing = []
    for target in doc.links:
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path and not (doc.path.parent / path).exists():
            missing.append(target)
    assert not missing, f"{doc.rel} links to files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_commands_name_what_exists(doc):
    targets, known_scenarios = makefile_targets(), scenarios()
    problems = []
    for line in doc.shell_lines():
        for argv in split_commands(line):
            problems += check_command(argv, doc, targets, known_scenarios)
    assert not problems, f"{doc.rel}: " + "; ".join(sorted(set(problems)))


def check_command(argv, doc, targets, known_scenarios):
    program, args = Path(argv[0]).name, argv[1:]
    problems = []
    if program == "make":
        for arg in args:
            if arg.startswith("-"):
                continue
            if "=" in arg:
                name, value = arg.split("=", 1)
                if name == "MOLECULE_SCENARIOS":
                    problems += [f"no molecule scenario {s!r}" for s in value.split() if s not in known_scenarios]
            elif arg not in targets:
                problems.append(f"`make {arg}`: no such target in the Makefile")
    elif program in {"ansible-playbook", "ansible-inventory", "ansible-vault"}:
        value_options = {"-i", "--inventory", "--vault-password-file", "--vault-id"}
        for option, value in itertools.pairwise(args):
            user_given = value.startswith(("@", "/")) or "," in value
            if option in value_options and not user_given and not exists(value.removeprefix("./"), doc):
                problems.append(f"`{program} {option} {value}`: {value} does not exist")
        for arg in args:
            playbook = re.fullmatch(r"[\w./-]+\.ya?ml", arg) and not arg.startswith(("/", "@"))
            if playbook and not exists(arg.removeprefix("./"), doc) and not is_option_value(arg, args):
                problems.append(f"`{program} ... {arg}`: {arg} does not exist")
    elif program == "molecule":
        for option, value in itertools.pairwise(args):
            if option in {"-s", "--scenario-name"} and "<" not in value and value not in known_scenarios:
                problems.append(f"`molecule ... -s {value}`: no such scenario")
    return problems


def is_option_value(arg, args):
    """A .yml that follows -e (extra vars file given with @ is skipped above) is the user's file."""
    index = args.index(arg)
    return index > 0 and args[index - 1] in {"-e", "--extra-vars"}


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_scenario_tables_name_scenarios(doc):
    """A table whose first column is `scenario` lists molecule scenarios; each must exist."""
    known = scenarios()
    missing = []
    for table in re.findall(r"^\| *scenario *\|.*\n\|[- |]+\|\n((?:\|.*\n?)+)", doc.text, re.MULTILINE):
        for row in table.splitlines():
            first = row.split("|")[1].strip()
            name = first.strip("`")
            if name and name not in known:
                missing.append(name)
    assert not missing, f"{doc.rel} lists molecule scenarios that do not exist: {missing}"


def test_example_inventories_match_the_files():
    """A YAML block headed `# <repository path>` shows that file; its content must be the file's."""
    doc = DOCS[0]
    for lang, body in doc.blocks:
        header = re.match(r"# *([\w./-]+\.ya?ml)\s*\n", body)
        if lang not in {"yaml", "yml"} or not header or not is_repo_name(header.group(1), doc):
            continue
        path = REPO / header.group(1)
        assert path.is_file(), f"README shows {header.group(1)}, which does not exist"
        assert yaml.safe_load(body) == yaml.safe_load(path.read_text()), (
            f"README's {header.group(1)} differs from the file"
        )
