"""Pushes while clients keep predicting: no failed request, and the switch is seen at once."""

import requests

from tests.support.load import ROW, Load


def versions_seen(load: Load) -> list[list[str]]:
    return [[a.version for a in answers] for answers in load.answers]


def test_a_push_switches_versions_under_load_without_errors(serving, production, development):
    development.commit_bundle("good")
    with Load(serving.url, clients=4) as load:
        result = development.push()
        assert result.returncode == 0, result.stderr
        load.wait_for_more(5)
    assert {a.status for a in load.all} == {200}
    for seen in versions_seen(load):
        switch = seen.index("2")
        # Each client saw the old version, then only the new one: no flapping back.
        assert seen[:switch] == ["1"] * switch and set(seen[switch:]) == {"2"}
    after = [
        requests.post(
            f"{serving.url}/v1/models/diabetes:predict", json={"instances": [ROW]}
        ).headers["X-Model-Version"]
        for _ in range(10)
    ]
    assert after == ["2"] * 10
    commit = production.store.history("diabetes")[-1].details["commit"]
    page = requests.get(f"{serving.url}/models").text
    assert commit[:12] in page and "accuracy PASS" in page and "latency PASS" in page


def test_a_refused_push_under_load_changes_nothing(serving, production, development):
    development.commit_bundle("poor")
    with Load(serving.url, clients=4) as load:
        result = development.push()
        assert result.returncode != 0
        load.wait_for_more(5)
    assert {a.status for a in load.all} == {200}
    assert {a.version for a in load.all} == {"1"}
