import json
import subprocess
import sys
import textwrap

import pytest

from modelserve.bundles import ModelStore
from modelserve.errors import InvalidBundle, InvalidInput, ModelNotFound, StoreConflict
from modelserve.settings import demo_bundle_path


@pytest.fixture
def three_versions(demo_store: ModelStore) -> ModelStore:
    demo_store.add(demo_bundle_path())
    demo_store.add(demo_bundle_path())
    return demo_store


def test_seed_installs_the_demo_once(store):
    store.seed(demo_bundle_path(), "diabetes")
    store.seed(demo_bundle_path(), "diabetes")
    assert store.models() == ["diabetes"]
    assert store.versions("diabetes") == [1]
    assert store.current_version("diabetes") == 1


def test_versions_increase_and_metadata_follows_the_store(three_versions):
    store = three_versions
    assert store.versions("diabetes") == [1, 2, 3]
    other = store.add(demo_bundle_path(), "other")
    assert (other.name, other.version) == ("other", 1)
    assert store.bundle("diabetes", 3).metadata.version == 3
    # Added versions are not current until promoted.
    assert store.current_version("diabetes") == 1
    with pytest.raises(ModelNotFound, match="model 'other' has no current version"):
        store.current_version("other")


def test_promote_and_rollback_walk_back_through_previous_versions(three_versions):
    store = three_versions
    store.promote("diabetes", 2, "second")
    store.promote("diabetes", 3, "third")
    assert store.rollback("diabetes").to_version == 2
    assert store.rollback("diabetes").to_version == 1
    with pytest.raises(StoreConflict, match="no earlier version"):
        store.rollback("diabetes")
    entry = store.rollback("diabetes", to=3, reason="jump")
    assert (entry.from_version, entry.to_version) == (1, 3)
    # A rollback --to can itself be undone.
    assert store.rollback("diabetes").to_version == 1
    history = store.history("diabetes")
    assert [(e.action, e.from_version, e.to_version) for e in history] == [
        ("promote", None, 1),
        ("promote", 1, 2),
        ("promote", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
        ("rollback", 1, 3),
        ("rollback", 3, 1),
    ]
    assert history[-2].reason == "jump"
    assert all(e.time.tzinfo is not None for e in history)


def test_unknown_versions_names_and_same_version_are_refused(three_versions):
    store = three_versions
    with pytest.raises(ModelNotFound, match="no version 9"):
        store.promote("diabetes", 9, "nope")
    with pytest.raises(ModelNotFound, match="no model 'nope'"):
        store.bundle("nope")
    with pytest.raises(StoreConflict, match="already current"):
        store.promote("diabetes", 1, "again")
    with pytest.raises(InvalidInput, match="invalid model name"):
        store.bundle("../etc")


def test_a_tampered_version_cannot_be_promoted(three_versions):
    store = three_versions
    with open(store.bundle("diabetes", 2).path / "model.keras", "ab") as f:
        f.write(b"x")
    with pytest.raises(InvalidBundle, match=r"2/model\.keras: checksum"):
        store.promote("diabetes", 2, "tampered")
    assert store.current_version("diabetes") == 1


READER = textwrap.dedent("""
    import json, sys, pathlib
    pointer, stop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    reads = failures = 0
    while True:
        finished = stop.exists()
        try:
            json.loads(pointer.read_bytes())["version"]
        except Exception:
            failures += 1
        reads += 1
        if reads == 1:
            print("ready", flush=True)
        if finished:
            break
    print(json.dumps({"reads": reads, "failures": failures}), flush=True)
""")

WRITER = textwrap.dedent("""
    import random, sys
    from modelserve.bundles import ModelStore
    from modelserve.errors import StoreConflict
    store, rng, done = ModelStore(sys.argv[1]), random.Random(int(sys.argv[2])), 0
    for _ in range(40):
        try:
            store.promote("diabetes", rng.choice([1, 2, 3]), "race " + sys.argv[2])
            done += 1
        except StoreConflict:
            pass
    print(done)
""")


def test_racing_promotes_never_corrupt_the_pointer_or_history(three_versions, tmp_path):
    store = three_versions
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(store.pointer_path("diabetes")), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "ready"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.root), str(seed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    promoted = sum(int(w.communicate(timeout=120)[0]) for w in writers)
    stop.touch()
    counts = json.loads(reader.communicate(timeout=60)[0])
    assert counts["failures"] == 0 and counts["reads"] > 1

    history = store.history("diabetes")[1:]  # after the seed's entry
    assert promoted > 10 and len(history) == promoted
    expected_from = 1
    for entry in history:
        assert entry.from_version == expected_from != entry.to_version
        expected_from = entry.to_version
    pointer = store.pointer("diabetes")
    assert pointer.version == history[-1].to_version
    assert pointer.previous == [e.from_version for e in history]


def listing(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_reads_and_failed_switches_of_an_unknown_model_create_nothing(demo_store):
    from datetime import datetime, timezone

    from modelserve.bundles import Canary

    store = demo_store
    before = listing(store.root)
    unknown = f"no model 'nosuch' in {store.root}; models: diabetes"
    canary = Canary(
        version=1,
        fraction=0.1,
        started=datetime.now(timezone.utc),
        requests=10,
        seconds=60,
        error_margin=0.01,
        latency_factor=2,
    )
    attempts = [
        lambda: store.current_version("nosuch"),
        lambda: store.bundle("nosuch", 1),
        lambda: store.promote("nosuch", 1, "nope"),
        lambda: store.rollback("nosuch"),
        lambda: store.rollback("nosuch", to=1),
        lambda: store.start_canary("nosuch", canary, "nope"),
        lambda: store.end_canary("nosuch", promote=True, reason="nope"),
        lambda: store.end_canary("nosuch", promote=False, reason="nope"),
        lambda: store.check_known("nosuch"),
    ]
    for attempt in attempts:
        with pytest.raises(ModelNotFound) as caught:
            attempt()
        # The store's folder is named on the command line only, never to an HTTP client.
        assert str(caught.value) == "no model 'nosuch'; models: diabetes"
        assert caught.value.local_message() == unknown
    assert store.pointer("nosuch") is None
    assert store.history("nosuch") == [] and store.records("nosuch") == {}
    assert store.versions("nosuch") == [] and store.models() == ["diabetes"]
    assert listing(store.root) == before


def test_a_model_folder_without_versions_is_not_a_model(demo_store):
    (demo_store.root / "empty").mkdir()  # e.g. left behind by an older release
    with pytest.raises(ModelNotFound, match=r"no model 'empty'; models: diabetes$"):
        demo_store.rollback("empty")
    assert sorted(p.name for p in (demo_store.root / "empty").iterdir()) == []
