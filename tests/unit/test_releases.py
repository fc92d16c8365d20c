"""A deploy makes what it ships live: every function of every stack publishes a new version (what
its `live` alias, so every route, queue and schedule, invokes) whenever the Release changes, and
`make deploy` computes the Release from everything the build reads and the env's parameters. SAM's
own version hash sees a function's code, environment (parameters unresolved) and memory only: a
layer or parameter change would stay on $LATEST. Checked with the aws-sam-translator SAM CLI pins."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from automations_local import deploy, limits
from automations_local.template import load_template, load_yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
A, B = "a" * 64, "b" * 64


def test_every_function_of_every_stack_publishes_by_the_release():
    """The translator refuses AutoPublishCodeSha256 in Globals ("not a supported property of
    'Function'"): each function names it, so an endpoint added without it fails here."""
    template = load_template(ROOT / "template.yaml", parameters={"Release": A})
    stacks = template.stacks()
    assert len(stacks) >= 9
    forgotten = [f"{stack.path.name} {logical_id}" for stack in stacks for logical_id, resource in stack.raw["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"
                 and (resource.get("Properties") or {}).get("AutoPublishCodeSha256") != {"Ref": "Release"}]
    assert not forgotten, f"functions without AutoPublishCodeSha256: !Ref Release: {forgotten}"
    assert {stack.parameter("Release") for stack in stacks} == {A}  # every nested stack is passed the core's


@pytest.mark.skipif(not TOOLS_PYTHON.is_file(), reason="no .venv-tools (make .venv-tools/.installed)")
def test_a_new_release_publishes_every_function_of_every_stack_anew():
    def versions(release: str) -> list[dict[str, str]]:
        values = {**limits.samconfig_parameters(ROOT, "prod"), "Release": release}
        _, translated = limits.translate(load_template(ROOT / "template.yaml", parameters=values), TOOLS_PYTHON)
        per_stack = []
        for expanded in translated:
            resources = expanded["Resources"]
            functions = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
            found = {name: r["Properties"]["FunctionName"]["Ref"] for name, r in resources.items()
                     if r["Type"] == "AWS::Lambda::Version"}
            assert sorted(found.values()) == sorted(functions)  # one version per function
            aliases = [r["Properties"]["FunctionVersion"]["Fn::GetAtt"][0] for r in resources.values()
                       if r["Type"] == "AWS::Lambda::Alias"]
            assert sorted(aliases) == sorted(found)  # each live alias points at its function's version
            per_stack.append(found)
        return per_stack

    first, again, second = versions(A), versions(A), versions(B)
    assert first == again  # the same release publishes nothing new
    assert sum(map(len, first)) >= 100
    for before, after in zip(first, second, strict=True):
        assert sorted(before.values()) == sorted(after.values())
        assert not set(before) & set(after), f"versions a new release keeps: {sorted(set(before) & set(after))}"


def _checkout(directory: Path, edits: dict[str, str] | None = None) -> Path:
    """A repository in miniature, with ``edits`` (relative path: text) applied."""
    files = {"template.yaml": (ROOT / "template.yaml").read_text(), "samconfig.toml": (ROOT / "samconfig.toml").read_text(),
             "stacks/piggy.yaml": "Resources: {}\n", "functions/piggy_runs_create/app.py": "handler = None\n",
             "layers/core/automations/runs.py": "SENDS = 1\n", "layers/core/requirements.txt": "pydantic==2.14.3\n",
             "README.md": "# notes\n"}
    files |= edits or {}
    for relative, text in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(text)
    return directory


def test_the_release_changes_with_anything_a_deploy_ships(tmp_path):
    values = limits.samconfig_parameters(ROOT, "prod")
    shipped = deploy.release(_checkout(tmp_path / "as-is"), values)
    assert len(shipped) == 64 and int(shipped, 16) >= 0
    assert deploy.release(tmp_path / "as-is", {**values, "Release": "x"}) == shipped  # its placeholder is no input

    def release_with(relative: str, text: str) -> str:
        return deploy.release(_checkout(tmp_path / str(len(list(tmp_path.iterdir()))), {relative: text}), values)

    changed = {
        "a layer module": release_with("layers/core/automations/runs.py", "SENDS = 2\n"),
        "a layer dependency": release_with("layers/core/requirements.txt", "pydantic==2.15.0\n"),
        "a function": release_with("functions/piggy_runs_create/app.py", "handler = print\n"),
        "a new layer module": release_with("layers/core/automations/clock.py", ""),
        "the core template": release_with("template.yaml", (ROOT / "template.yaml").read_text() + "\n"),
        "a nested stack": release_with("stacks/piggy.yaml", "Resources: {Other: {}}\n"),
        "a parameter value": deploy.release(tmp_path / "as-is", {**values, "SenderEmail": "mail@shop.test"}),
        "a new parameter": deploy.release(tmp_path / "as-is", {**values, "ExistingTableName": "restored"}),
    }
    same = {
        "bytecode": release_with("layers/core/automations/__pycache__/runs.cpython-313.pyc", "x"),
        "the README": release_with("README.md", "# other notes\n"),
    }
    assert all(release != shipped for release in changed.values()), changed
    assert len(set(changed.values())) == len(changed)
    assert set(same.values()) == {shipped}, same


def test_a_deploy_passes_samconfigs_whole_list_with_the_release():
    """`--parameter-overrides` replaces samconfig's list: every value goes, the placeholder replaced."""
    declared = set(load_template(ROOT / "template.yaml").raw["Parameters"])
    listed = limits.samconfig_parameters(ROOT, "prod")
    values = deploy.parameters(ROOT, "prod", {}, declared)
    assert set(values) == set(listed) and values["Release"] == deploy.release(ROOT, listed)
    hotfix = deploy.parameters(ROOT, "prod", {"SenderEmail": "mail@shop.test"}, declared)
    assert hotfix == {**values, "SenderEmail": "mail@shop.test", "Release": deploy.release(ROOT, hotfix)}
    assert hotfix["Release"] != values["Release"]
    command = deploy.sam_deploy_command("sam", "prod", values, ["--no-execute-changeset"])
    assert command[:5] == ["sam", "deploy", "--config-env", "prod", "--parameter-overrides"]
    assert command[5:-1] == [f"{name}={value}" for name, value in values.items()]
    assert command[-1] == "--no-execute-changeset"
    for refused in ({"Release": A}, {"Nope": "1"}):
        with pytest.raises(deploy.DeployError, match="not a parameter a deploy may set"):
            deploy.parameters(ROOT, "prod", refused, declared)
    with pytest.raises(deploy.DeployError, match="no env 'staging'"):
        deploy.parameters(ROOT, "staging", {}, declared)


def test_a_plain_sam_deploy_is_refused_for_want_of_a_release():
    """samconfig lists Release as a placeholder the template's pattern refuses: `sam deploy` alone
    (which on an existing stack would keep the previous Release) fails instead of leaving live behind."""
    import re

    template = load_template(ROOT / "template.yaml")
    spec = template.raw["Parameters"]["Release"]
    assert "Default" not in spec
    assert re.fullmatch(spec["AllowedPattern"], deploy.release(ROOT, {}))
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        placeholder = limits.samconfig_parameters(ROOT, env)["Release"]
        assert not re.fullmatch(spec["AllowedPattern"], placeholder) and placeholder.isalnum(), env
        assert env in config


def _fake_sam(root: Path, on_build: str = "") -> Path:
    """A `sam` in the checkout's .venv-tools that records its arguments (and runs ``on_build`` when building)."""
    sam = root / ".venv-tools" / "bin" / "sam"
    sam.parent.mkdir(parents=True)
    sam.write_text(f'#!/bin/sh\necho "$@" >> "{root}/sam-calls"\nif [ "$1" = build ]; then {on_build or ":"}; fi\n')
    sam.chmod(0o755)
    return root / "sam-calls"


def test_make_deploy_builds_then_deploys_the_release_of_what_was_built(tmp_path, capsys):
    from automations_local.cli import main

    root = _checkout(tmp_path)
    calls = _fake_sam(root)
    assert deploy.run(root, "prod", {"SenderEmail": "mail@shop.test"}, ["--no-execute-changeset"],
                      indexes=lambda stack, adopted: deploy.template_indexes(root)) == 0
    build, sam_deploy = calls.read_text().splitlines()
    assert build == "build --template template.yaml"
    values = deploy.parameters(root, "prod", {"SenderEmail": "mail@shop.test"},
                               set(load_yaml(root / "template.yaml")["Parameters"]))
    assert sam_deploy == " ".join(deploy.sam_deploy_command("sam", "prod", values, ["--no-execute-changeset"])[1:])
    assert f"Deploying samconfig env 'prod', Release={values['Release']}" in capsys.readouterr().out

    edited = _checkout(tmp_path / "edited")
    _fake_sam(edited, on_build=f'echo "SENDS = 3" > "{edited}/layers/core/automations/runs.py"')
    with pytest.raises(deploy.DeployError, match="changed while they were built"):
        deploy.run(edited, "prod", {}, [], indexes=lambda stack, adopted: None)
    assert main(["deploy", "--set", "nonsense"]) == 1
    assert "automations: --set nonsense: give NAME=VALUE" in capsys.readouterr().err


def test_a_deploy_that_would_create_two_indexes_in_one_update_is_refused_before_it_builds(tmp_path):
    """CloudFormation creates or deletes one index of a table per stack update: a deploy that
    would do more (a release skipped) fails only there, halfway; refused here, named, nothing built."""
    root = _checkout(tmp_path)
    calls = _fake_sam(root)
    wanted = deploy.template_indexes(root)
    asked = []

    def two_behind(stack, adopted):
        asked.append((stack, adopted))
        return wanted - {"AutomationRunsIndex", "WaitingIndex"}

    with pytest.raises(deploy.DeployError, match="creates AutomationRunsIndex and creates WaitingIndex"):
        deploy.run(root, "prod", {}, [], indexes=two_behind)
    assert asked == [("automations-prod", "")] and not calls.exists()
    assert deploy.run(root, "prod", {}, [], indexes=lambda stack, adopted: wanted - {"AutomationRunsIndex"}) == 0
    with pytest.raises(deploy.DeployError, match="adopted table lacks the index.es. AutomationRunsIndex"):
        deploy.run(root, "prod", {"ExistingTableName": "shop-table"}, [],
                   indexes=lambda stack, adopted: wanted - {"AutomationRunsIndex"} if adopted == "shop-table" else None)


@pytest.mark.parametrize("wanted, live, adopted, refused", [
    ({"A", "B"}, None, False, None),  # a first deploy: the table is made with all of them
    ({"A", "B"}, {"A"}, False, None),
    ({"A", "B"}, {"A", "B"}, True, None),
    ({"A", "B", "C"}, {"A"}, False, "creates B and creates C"),
    ({"A", "C"}, {"A", "B"}, False, "creates C and deletes B"),
    ({"A"}, {"A", "B"}, True, None),  # an adopted table may keep an index of its own
    ({"A", "B"}, {"A"}, True, "lacks the index(es) B"),
])
def test_which_index_changes_one_stack_update_can_make(wanted, live, adopted, refused):
    answer = deploy.index_changes(wanted, live, adopted)
    assert (answer is None) if refused is None else (refused in answer)


def test_the_live_tables_indexes_are_read_through_the_stacks_output(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        import boto3

        assert deploy.live_indexes("automations-prod", "") is None  # no stack yet
        boto3.client("cloudformation").create_stack(StackName="automations-prod", TemplateBody=json.dumps({
            "Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": "prod-table", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "G")],
                "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [{"IndexName": "ByG", "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "KEYS_ONLY"}}]}}},
            "Outputs": {"TableName": {"Value": {"Ref": "Table"}}}}))
        assert deploy.live_indexes("automations-prod", "") == {"ByG"}
        assert deploy.live_indexes("automations-prod", "adopted-table") is None  # not made yet
