import json
import subprocess
import sys

import pytest

from tests.conftest import Cli

VERBS = [
    [],
    ["train"],
    ["import-legacy"],
    ["evaluate"],
    ["predict"],
    ["rollback"],
    ["models"],
    ["models", "list"],
    ["models", "show"],
    ["models", "promote"],
    ["models", "rollback"],
    ["models", "history"],
    ["canary"],
    ["deploy"],
    ["cloud"],
    ["serve"],
    ["worker"],
]
GROUPS = [[], ["models"], ["canary"], ["deploy"], ["cloud"]]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v) or "modelserve")
def test_every_verb_has_help(cli, verb):
    result = cli(*verb, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: modelserve")


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(g) or "modelserve")
def test_command_lists_fit_80_columns_uncut(cli, group):
    cli.env["COLUMNS"] = "80"
    result = cli(*group, "--help")
    assert result.returncode == 0
    # The usage line's "[ARGS]..." is click's notation for more arguments, not a cut.
    lines = [line for line in result.stdout.splitlines() if not line.startswith("Usage:")]
    assert "Commands:" in lines
    assert not [line for line in lines if line.rstrip().endswith("...")]
    assert max(map(len, lines)) <= 80


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["predict", "--bogus"], "No such option '--bogus'"),
        (["predict"], "give exactly one of --data or --row"),
        (["train", "--epochs", "0"], "Invalid value for '--epochs'"),
        (["train", "extra"], "Got unexpected extra argument (extra)"),
        (["models", "promote"], "Missing argument 'VERSION'"),
        (["predict", "--model", "diabetes:x", "--row", "1"], "version must be a positive integer"),
        (["models", "history", "--model", "no/such"], "invalid model name 'no/such'"),
        (["canary", "start", "2"], "a canary needs a share of requests: --fraction"),
        (["train", "--data", "/nonexistent.csv"], "'/nonexistent.csv' does not exist"),
        (["predict", "--data", "/nonexistent.csv"], "'/nonexistent.csv' does not exist"),
        (
            ["import-legacy", "--json", "/nonexistent.json", "--weights", "x.h5"],
            "'/nonexistent.json' does not exist",
        ),
    ],
)
def test_usage_errors_print_one_line_and_exit_2(cli, args, message):
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelserve: error: ")
    assert message in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--row", "1,2,3"], "--row: expected 8 numbers, found 3"),
        (["predict", "--row", "6,148,72,35,0,33.6,0.627,x"], "--row column 8 (age): 'x' is not"),
        (["predict", "--row", "6,148,72,35,0,33.6,inf,50"], "column 7 (diabetes_pedigree)"),
        (["predict", "--model", "nope", "--row", "1"], "no model 'nope' in "),
        (["evaluate", "--model", "diabetes:7"], "model 'diabetes' has no version 7"),
        (["models", "show", "--model", "diabetes:7"], "model 'diabetes' has no version 7"),
        (["models", "promote", "1"], "version 1 of 'diabetes' is already current"),
        (["rollback"], "no earlier version to roll back to"),
        (["canary", "abort"], "model 'diabetes' runs no canary"),
    ],
)
def test_failures_print_one_line_and_exit_1(cli, args, message):
    result = cli(*args)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelserve: error: ")
    assert message in lines[0]


def test_exit_codes_are_0_for_success_1_for_failure_2_for_usage(cli, tmp_path):
    assert cli("models", "list").returncode == 0
    assert cli("models", "list", "--bogus").returncode == 2
    missing = cli("models", "show", "--model", "nosuch")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"modelserve: error: no model 'nosuch' in {tmp_path / 'store'}; models: diabetes\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("6,148,72,35,0,33.6,0.627,50\n1,85,66\n")
    assert cli("predict", "--data", str(bad)).returncode == 1


def test_csv_errors_name_line_and_column(cli, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("6,148,72,35,0,33.6,0.627,50\n1,85,66,29,0,26.6,nan,31\n")
    result = cli("predict", "--data", str(data))
    assert result.returncode == 1
    assert (
        f"{data} line 2, column 7 (diabetes_pedigree): 'nan' is not a finite number"
        in result.stderr
    )
    data.write_text("6,148,72,35,0,33.6,0.627,50,1\n6,148,72\n")
    result = cli("evaluate", "--data", str(data))
    assert result.returncode == 1 and "line 2: expected 9 fields" in result.stderr


def test_bad_settings_are_reported_by_variable(cli):
    cli.env["MODELSERVE_SEED_DEMO"] = "perhaps"
    result = cli("models", "list")
    assert result.returncode == 2
    assert "MODELSERVE_SEED_DEMO" in result.stderr


def test_predict_on_a_fresh_store_uses_the_demo_bundle(cli, pima_csv):
    result = cli("predict", "--row", "6,148,72,35,0,33.6,0.627,50", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["model"] == "diabetes" and record["version"] == 1
    assert 0.5 < record["probability"] < 1 and record["class"] == 1

    rows = cli("predict", "--data", str(pima_csv), "--json").stdout.splitlines()
    assert len(rows) == 765
    first = json.loads(rows[0])
    assert first["probability"] == pytest.approx(record["probability"]) and first["label"] == 1


def test_evaluate_reports_accuracy_and_confusion_matrix(cli, pima_csv):
    text = cli("evaluate", "--data", str(pima_csv))
    assert text.returncode == 0
    assert "accuracy " in text.stdout and "true 1" in text.stdout
    report = json.loads(cli("evaluate", "--data", str(pima_csv), "--json").stdout)
    assert report["n"] == 765 and 0.75 < report["accuracy"] <= 1
    assert sum(map(sum, report["confusion_matrix"])) == 765


def test_store_verbs_round_trip(cli, import_legacy_args, tmp_path):
    imported = cli(*import_legacy_args)
    assert imported.returncode == 0, imported.stderr
    assert "stored diabetes version 2 (not current; current is 1)" in imported.stdout

    listing = json.loads(cli("models", "list", "--json").stdout)
    assert listing == [
        {"model": "diabetes", "versions": [1, 2], "current": 1, "accuracy": listing[0]["accuracy"]}
    ]
    # On the gate rows the legacy model is less accurate than the demo model: with no drop
    # allowed, the gates refuse it, unless forced.
    strict = Cli(tmp_path / "store", MODELSERVE_GATE_MAX_ACCURACY_DROP="0")
    refused = strict("models", "promote", "2")
    assert refused.returncode == 1 and "FAIL  accuracy" in refused.stdout
    forced = cli("models", "promote", "2", "--reason", "legacy wins", "--force")
    assert forced.stdout.splitlines() == [
        "gates skipped (--force): version 2 of diabetes was not checked",
        "diabetes: current version 1 -> 2",
    ]
    shown = json.loads(cli("models", "show", "--json").stdout)
    assert shown["version"] == 2 and shown["training"]["source"] == "import-legacy"
    assert "(current)" in cli("models", "show", "--model", "diabetes:2").stdout
    rolled = cli("rollback")  # through the gates: the demo model passes them
    assert "PASS  accuracy" in rolled.stdout
    assert rolled.stdout.splitlines()[-1] == "diabetes: current version 2 -> 1"
    history = [json.loads(line) for line in cli("models", "history", "--json").stdout.splitlines()]
    assert [(h["action"], h["from"], h["to"]) for h in history] == [
        ("rollback", 2, 1),
        ("promote", 1, 2),
        ("promote", None, 1),
    ]
    assert history[1]["reason"] == "legacy wins"
    oldest_first = cli("models", "history", "--json", "--reverse").stdout.splitlines()
    assert [json.loads(line) for line in oldest_first] == history[::-1]
    table = cli("models", "history").stdout.splitlines()
    assert table[0].split()[:4] == ["time", "action", "from", "to"]
    assert [row.split()[1] for row in table[1:]] == ["rollback", "promote", "promote"]
    assert cli("models", "history", "--reverse").stdout.splitlines()[1:] == table[:0:-1]


def test_models_add_stores_and_promotes_through_the_gates(cli, tmp_path):
    from tests.support.bundles import make_bundle

    good = make_bundle(tmp_path / "good")
    result = cli("models", "add", str(good), "--promote")
    assert result.returncode == 0, result.stderr
    # A store that receives its first model starts with it, not with the demo.
    assert "stored diabetes version 1" in result.stdout
    assert "diabetes: current version None -> 1" in result.stdout
    poor = make_bundle(tmp_path / "poor", "poor")
    refused = cli("models", "add", str(poor), "--promote")
    assert refused.returncode == 1 and "FAIL  accuracy" in refused.stdout
    assert json.loads(cli("models", "list", "--json").stdout)[0]["current"] == 1


def listing(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "args",
    [
        ["rollback"],
        ["rollback", "--to", "1", "--force"],
        ["models", "rollback"],
        ["models", "history"],
        ["models", "history", "--json"],
        ["models", "show"],
        ["models", "promote", "1"],
        ["models", "promote", "1", "--force"],
        ["canary", "start", "1", "--fraction", "0.1"],
        ["canary", "status"],
        ["canary", "status", "--json"],
        ["canary", "promote"],
        ["canary", "abort"],
    ],
    ids=" ".join,
)
def test_an_unknown_model_is_not_found_and_nothing_is_created(cli, tmp_path, args):
    root = tmp_path / "store"
    assert cli("models", "list").returncode == 0  # the demo model, installed on first use
    before = listing(root)
    result = cli(*args, "--model", "nosuch")
    assert result.returncode == 1
    assert result.stderr == f"modelserve: error: no model 'nosuch' in {root}; models: diabetes\n"
    assert listing(root) == before
    assert json.loads(cli("models", "list", "--json").stdout)[0]["model"] == "diabetes"
    assert len(json.loads(cli("models", "list", "--json").stdout)) == 1


def test_training_without_tensorflow_says_how_to_get_it(tmp_path, pima_csv):
    # What the serving-only install finds: no TensorFlow to import.
    script = (
        "import sys; sys.modules['tensorflow'] = None; sys.argv[0] = 'modelserve'; "
        "from modelserve.cli import main; main(sys.argv[1:])"
    )
    for args in (
        ["train", "--epochs", "1"],
        ["import-legacy", "--json", str(pima_csv), "--weights", str(pima_csv)],
    ):
        result = subprocess.run(
            [sys.executable, "-c", script, "--store", str(tmp_path / "store"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        assert result.stderr == (
            "modelserve: error: training needs TensorFlow: run `make train` or "
            "`pip install 'modelserve[train]'`\n"
        )
