"""``automations deploy`` (``make deploy ENV=<env>``): builds, then deploys a samconfig.toml env
with its whole parameter list and the release it ships.

SAM publishes a new version of a function (what its ``live`` alias, so every route, queue and
schedule, invokes) only when the hash of the function's own code, environment (parameters
unresolved) and memory changes: a change to the layer, where the logic lives, or to a parameter
would update $LATEST and leave ``live`` where it was. So every function's AutoPublishCodeSha256 is
the Release parameter: a hash of everything the build reads (the templates, the functions, the
layer) and of the env's parameter values. Any change publishes every function anew; a deploy that
changes nothing keeps them.

``sam deploy --parameter-overrides`` replaces samconfig's list, so the list is passed whole, Release
in place of samconfig's placeholder (which the template refuses: a plain ``sam deploy`` fails).

CloudFormation creates or deletes one global secondary index of a table per stack update ("Cannot
perform more than one GSI creation or deletion in a single update"), and a table the stack adopts
(ExistingTableName) gets none from it: before building, the deploy compares the template's indexes
with the live table's and refuses one that would fail there, saying what to do."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from automations_local.limits import samconfig_parameters, samconfig_stack_name

# What `sam build` reads from the repository: the templates, and the code of every function and layer.
SHIPPED = ("template.yaml", "stacks", "functions", "layers")
_NOT_SHIPPED = ("__pycache__", ".pyc")


class DeployError(Exception):
    """A deploy that cannot be made as asked (an unknown env or parameter, a failed build)."""


def shipped_files(root: Path) -> list[Path]:
    """Every file the build reads, in a stable order (bytecode caches left out: the build makes its own)."""
    files = []
    for name in SHIPPED:
        top = root / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        files += [path for path in candidates if path.is_file()
                  and not any(part == "__pycache__" for part in path.relative_to(root).parts)
                  and not path.name.endswith(_NOT_SHIPPED)]
    return files


def release(root: Path, parameters: dict[str, str]) -> str:
    """The hash (64 hex digits) of what a deploy with ``parameters`` ships: SAM names each
    function's version after its first 10, so a change to any shipped file or parameter value
    makes every function publish a new version."""
    digest = hashlib.sha256()
    for path in shipped_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name, value in sorted(parameters.items()):
        if name != "Release":
            digest.update(f"{name}={value}\n".encode())
    return digest.hexdigest()


def parameters(root: Path, env: str, changes: dict[str, str], declared: set[str]) -> dict[str, str]:
    """The env's whole parameter list from samconfig.toml, with ``changes`` (values not to stay)
    and its Release."""
    try:
        values = samconfig_parameters(root, env)
    except KeyError:
        raise DeployError(f"samconfig.toml has no env {env!r} with deploy parameters") from None
    refused = sorted(name for name in changes if name not in declared or name == "Release")
    if refused:
        raise DeployError(f"not a parameter a deploy may set: {', '.join(refused)}")
    values |= changes
    values["Release"] = release(root, values)
    return values


def index_changes(wanted: set[str], live: set[str] | None, adopted: bool) -> str | None:
    """Why a deploy giving the table the indexes ``wanted`` would fail where it has ``live`` (None:
    no table yet, as on a first deploy), or None when it would not."""
    if live is None:
        return None
    created, deleted = sorted(wanted - live), sorted(live - wanted)
    if adopted and created:
        return (f"the adopted table lacks the index(es) {', '.join(created)}: the stack does not manage it, create "
                "them first (docs/deploying.md, runbook: adopt an existing table)")
    if not adopted and len(created) + len(deleted) > 1:
        changes = [f"creates {name}" for name in created] + [f"deletes {name}" for name in deleted]
        return (f"this release {' and '.join(changes)} on the table, and CloudFormation creates or deletes one "
                "index a stack update: deploy the release that makes the first change first (git log template.yaml)")
    return None


def live_indexes(stack_name: str, existing_table: str) -> set[str] | None:
    """The global secondary indexes of the stack's table as it is now (None before the stack or
    its table exists), read with the deployer's AWS credentials."""
    import boto3
    from botocore.exceptions import ClientError

    from automations.adapters.aws import has_code

    table = existing_table or None
    if table is None:
        try:
            [stack] = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
        table = next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == "TableName"), None)
        if table is None:
            return None
    try:
        described = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    except ClientError as error:
        if has_code(error, "ResourceNotFoundException"):
            return None
        raise
    return {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}


def template_indexes(root: Path) -> set[str]:
    from automations_local.template import load_yaml

    table = load_yaml(root / "template.yaml")["Resources"]["Table"]["Properties"]
    return {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}


def sam_deploy_command(sam: str, env: str, values: dict[str, str], extra: list[str]) -> list[str]:
    return [sam, "deploy", "--config-env", env, "--parameter-overrides",
            *(f"{name}={value}" for name, value in values.items()), *extra]


def run(root: Path, env: str, changes: dict[str, str], extra: list[str],
        indexes: Callable[[str, str], set[str] | None] = live_indexes) -> int:
    """The CLI: sam build, then sam deploy with the env's list and its Release; sam's exit code.
    ``indexes(stack name, adopted table)``: the live table's indexes (the deployer's AWS)."""
    from automations_local.template import load_yaml

    tools = root / ".venv-tools" / "bin"
    sam = tools / "sam"
    if not sam.is_file():
        raise DeployError(f"{sam} not found: make .venv-tools/.installed")
    declared = set(load_yaml(root / "template.yaml").get("Parameters") or {})
    before = parameters(root, env, changes, declared)
    adopted = before.get("ExistingTableName", "")
    refused = index_changes(template_indexes(root), indexes(samconfig_stack_name(root, env), adopted), bool(adopted))
    if refused:
        raise DeployError(refused)
    # sam build needs python3.13 first on PATH: this interpreter's (the venv's, as `make build` does).
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    built = subprocess.run([str(sam), "build", "--template", "template.yaml"], cwd=root, env=environment)
    if built.returncode != 0:
        return built.returncode
    values = parameters(root, env, changes, declared)
    if values["Release"] != before["Release"]:
        raise DeployError("the sources changed while they were built: deploy again")
    print(f"Deploying samconfig env {env!r}, Release={values['Release']}", flush=True)
    return subprocess.run(sam_deploy_command(str(sam), env, values, extra), cwd=root, env=environment).returncode
