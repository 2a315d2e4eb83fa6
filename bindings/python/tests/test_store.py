"""The synchronous API on the embedded store and, when configured, on the
test servers."""

from __future__ import annotations

import datetime
import json
import pathlib
import sys
import uuid

import pytest

import polystat
from conftest import REPO_ROOT, catalog_data, embedded_urls


def test_record_types(any_store: polystat.Store) -> None:
    record = any_store.catalogs.create(catalog_data())

    assert isinstance(record["id"], str)
    assert uuid.UUID(record["id"]).version == 7
    assert record["version"] == 1
    assert record["created_at"].tzinfo is not None
    assert record["start_date"] == datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    assert any_store.catalogs.get(record["id"]) == record


def create_computation(store: polystat.Store, **fields: object) -> dict:
    """Create a catalog, a control in it and a computation of that control
    for January 2024, with ``fields`` added to the computation."""
    catalog = store.catalogs.create(catalog_data())
    control = store.controls.create(
        {"catalog_id": catalog["id"], "name": "cm-3", "start_date": "2024-01-01T00:00:00Z"}
    )
    return store.computations.create(
        {
            "computationGroup": str(uuid.uuid4()),
            "controlId": control["id"],
            "period": {"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"},
            **fields,
        }
    )


def test_document_instants_are_datetimes(store: polystat.Store) -> None:
    computation = create_computation(
        store,
        evidences=[{"id": "e", "key": "1", "result": True, "value": "2024-05-05T00:00:00Z"}],
    )

    assert isinstance(computation["createdAt"], datetime.datetime)
    assert isinstance(computation["period"]["to"], datetime.datetime)
    assert computation["evidences"][0]["from"] is None
    # A date-like string inside evidence data stays a string.
    assert computation["evidences"][0]["value"] == "2024-05-05T00:00:00Z"


def test_cached_reads_are_independent_copies(store: polystat.Store) -> None:
    created = create_computation(
        store,
        scope={"repository": "a"},
        evidences=[{"id": "e", "key": "1", "result": True}],
    )
    # The first read fills the cache, the second converts the cached record
    # and keeps it, and later reads copy what it kept.
    reads = [store.computations.get(created["id"]) for _ in range(3)]
    assert reads[0] == reads[1]
    assert reads[1] == reads[2]
    assert reads[1] is not reads[2]
    for read in reads[1:]:
        read["scope"]["repository"] = "changed"
        read["evidences"][0]["key"] = "changed"
        read["evidences"].append({"id": "extra"})
        del read["version"]

    again = store.computations.get(created["id"])
    assert again == reads[0]
    assert again["scope"] == {"repository": "a"}
    assert again["evidences"][0]["key"] == "1"
    assert len(again["evidences"]) == 1
    assert isinstance(again["createdAt"], datetime.datetime)
    assert store.cache_stats()["tier1"]["hits"] >= 3

    # A write drops the kept dict with its cache entry.
    again["scope"] = {"repository": "b"}
    store.computations.update(created["id"], again["version"], again)
    for _ in range(3):
        assert store.computations.get(created["id"])["scope"] == {"repository": "b"}


def test_write_accepts_aware_datetime(store: polystat.Store) -> None:
    start = datetime.datetime(2024, 3, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    record = store.catalogs.create({"name": "Aware", "start_date": start})

    assert record["start_date"] == start


def test_write_rejects_naive_datetime(store: polystat.Store) -> None:
    with pytest.raises(polystat.ValidationError) as caught:
        store.catalogs.create({"name": "Naive", "start_date": datetime.datetime(2024, 1, 1)})

    assert "time zone" in str(caught.value)


def test_update_with_read_record(store: polystat.Store) -> None:
    record = store.catalogs.create(catalog_data())
    record["description"] = "changed"

    updated = store.catalogs.update(record["id"], record["version"], record)

    assert updated["version"] == 2
    assert updated["description"] == "changed"


def test_error_attributes(store: polystat.Store) -> None:
    record = store.catalogs.create(catalog_data())
    store.catalogs.update(record["id"], 1, record)

    with pytest.raises(polystat.ConflictError) as conflict:
        store.catalogs.update(record["id"], 1, record)
    with pytest.raises(polystat.NotFoundError) as missing:
        store.folders.get(str(uuid.uuid4()))
    with pytest.raises(polystat.ValidationError) as invalid:
        store.catalogs.create({"name": "", "start_date": "2024-01-01T00:00:00Z"})

    assert conflict.value.code == "CONFLICT"
    assert conflict.value.entity == "catalog"
    assert missing.value.code == "NOT_FOUND"
    assert invalid.value.field == "catalog.name"
    assert isinstance(invalid.value, polystat.Error)


def test_invalid_id_is_validation_error(store: polystat.Store) -> None:
    with pytest.raises(polystat.ValidationError) as caught:
        store.catalogs.get("not-a-uuid")

    assert caught.value.field == "id"


def test_bulk_insert_error_names_item(store: polystat.Store) -> None:
    good = {"name": "environment"}
    with pytest.raises(polystat.ValidationError) as invalid:
        store.scopes.bulk_insert([good, {"name": ""}])
    with pytest.raises(polystat.ValidationError) as malformed:
        store.scopes.bulk_insert([good, good, {"name": object()}])

    assert invalid.value.field == "scope.name"
    assert "item 1: " in str(invalid.value)
    assert "item 2: " in str(malformed.value)
    assert store.scopes.count() == 0


def test_error_classes_do_not_replace_builtins() -> None:
    assert polystat.ReferenceError is not ReferenceError
    assert polystat.TimeoutError is not TimeoutError
    assert issubclass(polystat.ReferenceError, polystat.Error)
    assert issubclass(polystat.RateLimitedError, polystat.Error)


def test_unavailable_keeps_cause(tmp_path: pathlib.Path) -> None:
    with pytest.raises(polystat.UnavailableError) as caught:
        polystat.Store.open(relational_url="postgres://nobody@127.0.0.1:1/none")

    assert caught.value.code == "UNAVAILABLE"
    assert caught.value.backend.startswith("postgres")
    assert "refused" in caught.value.cause
    assert str(caught.value.__cause__) == caught.value.cause


def test_configuration_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(polystat.ConfigurationError):
        polystat.Store.open(relational_url="ftp://example.invalid/x")


def test_page_iteration_and_export(store: polystat.Store) -> None:
    store.scopes.bulk_insert([{"name": f"scope_{i:02}"} for i in range(25)])

    page = store.scopes.list(sort={"name": 1}, limit=10)
    pages = list(store.scopes.pages(page_size=10))
    frame = page.to_pandas()
    table = page.to_arrow()

    assert len(page) == 10
    assert [r["name"] for r in page][:2] == ["scope_00", "scope_01"]
    assert page.next_cursor is not None
    assert [len(p) for p in pages] == [10, 10, 5]
    assert pages[-1].next_cursor is None
    assert len(list(store.scopes.iter(page_size=7))) == 25
    assert len(store.scopes.list_all()) == 25
    assert list(frame["name"])[:2] == ["scope_00", "scope_01"]
    assert table.num_rows == 10


def test_page_export_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)

    with pytest.raises(polystat.ConfigurationError) as caught:
        polystat.Page([], None).to_pandas()

    assert "pip install pandas" in str(caught.value)


def test_users(store: polystat.Store) -> None:
    user = store.users.register(
        {"username": "ada", "email": "ada@example.org", "password": "correct horse"}
    )

    verified = store.users.verify_password("ada", "correct horse")

    assert verified["id"] == user["id"]
    assert "password" not in user
    with pytest.raises(polystat.UnauthorizedError):
        store.users.verify_password("ada", "wrong password")


def test_secrets(store: polystat.Store) -> None:
    secret = store.secrets.create_secret({"name": "github", "value": "ghp_example"})

    rotated = store.secrets.rotate(secret["id"], secret["version"], "ghp_rotated")

    assert "ghp_example" not in repr(secret)
    assert store.secrets.reveal(secret["id"]) == "ghp_rotated"
    assert isinstance(rotated["rotated_at"], datetime.datetime)


def test_service_accounts(store: polystat.Store) -> None:
    account, key = store.service_accounts.create_account({"name": "ci"})

    assert store.service_accounts.authenticate(key)["id"] == account["id"]
    with pytest.raises(polystat.UnauthorizedError):
        store.service_accounts.authenticate(key + "x")


def test_datasource_usage_and_test(store: polystat.Store, tmp_path: pathlib.Path) -> None:
    (tmp_path / "rows.json").write_text('[{"n": 1}, {"n": 2}]')
    datasource = store.datasources.create(
        {"name": "rows", "definitionId": "file", "config": {"path": "rows.json"}}
    )

    result = store.test_datasource(datasource["id"])

    assert store.datasources.usage(datasource["id"]) == {"linkers": [], "mashups": []}
    assert result["status"] == "ok"
    assert store.datasources.get(datasource["id"])["testStatus"] == "ok"


def test_linker_run_and_reference(store: polystat.Store, tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.json").write_text('[{"k": 1, "x": "a"}]')
    (tmp_path / "b.json").write_text('[{"k": 1, "y": "b"}]')
    first = store.datasources.create({"name": "a", "definitionId": "file", "config": {"path": "a.json"}})
    store.datasources.create({"name": "b", "definitionId": "file", "config": {"path": "b.json"}})
    linker = store.linkers.create(
        {
            "name": "ab",
            "spec": {"sources": [{"datasource": "a"}, {"datasource": "b"}], "linkKeys": ["k"]},
        }
    )

    output = store.run_linker(linker["id"])
    tested = store.test_linker(linker["id"], sample_size=1)
    cached = store.linker_result(linker["id"])

    assert output["records"] == [{"k": 1, "x": "a", "y": "b"}]
    assert tested["diagnostics"][0]["source"] == "a"
    assert cached["records"] == output["records"]
    assert store.linkers.get(linker["id"])["executionStatus"] == "succeeded"
    with pytest.raises(polystat.ReferenceError):
        store.datasources.delete(first["id"])


def test_import_oscal_document(store: polystat.Store) -> None:
    document = {
        "catalog": {
            "uuid": "2c1a7d5e-0000-4000-8000-000000000001",
            "metadata": {"title": "Mini", "last-modified": "2024-01-01T00:00:00Z"},
            "groups": [
                {
                    "id": "cm",
                    "title": "Configuration Management",
                    "controls": [{"id": "cm-3", "title": "Change Control"}],
                }
            ],
        }
    }

    summary = store.import_oscal(document)

    assert summary["controls_imported"] == 1
    assert store.controls.find_one({"external_id": "cm-3"})["name"] == "Change Control"


def test_state_features(any_store: polystat.Store) -> None:
    state = any_store.state
    pair = state.issue_tokens("ada", {"role": "admin"}, 60, datetime.timedelta(hours=1))
    session = state.create_session({"cart": [1, 2]}, 60)

    assert state.verify_access(pair["access_token"])["claims"] == {"role": "admin"}
    assert pair["access_expires_at"].tzinfo is not None
    assert state.get_session(session["id"])["data"] == {"cart": [1, 2]}
    assert state.delete_session(session["id"]) is True
    assert state.get_session(session["id"]) is None
    assert state.refresh(pair["refresh_token"])["family_id"] == pair["family_id"]
    with pytest.raises(polystat.UnauthorizedError):
        state.refresh(pair["refresh_token"])
    state.set_temp("otp", {"code": 123}, 30)
    assert state.get_temp("otp") == {"code": 123}
    assert state.delete_temp("otp") is True


def test_rate_limit(any_store: polystat.Store) -> None:
    state = any_store.state
    first = state.rate_limit("login", 1, 60)

    assert first["allowed"] is True
    with pytest.raises(polystat.RateLimitedError) as caught:
        state.check_rate_limit("login", 1, 60)
    assert 0 < caught.value.retry_after <= 60


def test_pub_sub(any_store: polystat.Store) -> None:
    subscription = any_store.state.subscribe("alerts")
    any_store.state.publish("alerts", {"n": 1})
    any_store.state.publish("alerts", None)

    assert subscription.receive(timeout=5) == {"n": 1}
    assert subscription.receive(timeout=5) is None
    with pytest.raises(polystat.TimeoutError):
        subscription.receive(timeout=0.05)


def test_cache_stats(store: polystat.Store) -> None:
    record = store.catalogs.create(catalog_data())
    store.catalogs.get(record["id"])
    store.catalogs.get(record["id"])

    stats = store.cache_stats()

    assert stats["tier1"]["hits"] >= 1
    assert stats["tier2_available"] is False


def test_closed_store_raises(urls: dict[str, str]) -> None:
    store = polystat.Store.open(**urls)
    store.close()

    assert store.closed
    with pytest.raises(polystat.ConfigurationError):
        store.catalogs.count()


def test_open_uses_environment(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite://{tmp_path / 'env.db'}"
    monkeypatch.setenv("POLYSTAT_RELATIONAL_URL", url)
    monkeypatch.setenv("POLYSTAT_DOCUMENTS_URL", url)

    with polystat.Store.open_default() as store:
        store.folders.create({"name": "from env"})

    assert (tmp_path / "env.db").exists()


def test_open_default_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POLYSTAT_RELATIONAL_URL", "POLYSTAT_DOCUMENTS_URL", "POLYSTAT_CACHE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    with polystat.Store.open_default() as store:
        store.folders.create({"name": "default"})

    assert (tmp_path / "polystat.db").exists()


def test_changes_deliver_local_writes(store: polystat.Store) -> None:
    events = store.changes(["scopes"])
    created = store.scopes.create({"name": "watched"})
    store.catalogs.create(catalog_data())
    store.scopes.delete(created["id"])
    first = events.receive(timeout=5)
    second = events.receive(timeout=5)
    assert (first["kind"], first["entity"], first["ids"]) == ("created", "scopes", [created["id"]])
    assert (second["kind"], second["ids"]) == ("deleted", [created["id"]])
    with pytest.raises(polystat.TimeoutError):
        events.receive(timeout=0.05)


def test_changes_refuse_an_unknown_entity(store: polystat.Store) -> None:
    with pytest.raises(polystat.ValidationError) as caught:
        store.changes(["widgets"])
    assert caught.value.field == "entities[0]"


def test_evaluate_control_matches_the_job(tmp_path: pathlib.Path) -> None:
    data = REPO_ROOT / "examples" / "data"
    job = REPO_ROOT / "examples" / "jobs" / "sample-pull-request-review.json"
    spec = json.loads(job.read_text())
    with polystat.Store.open(**embedded_urls(tmp_path), data_root=data) as store:
        report = store.evaluate_job(job, data)
        evaluation = report["evaluations"][0]
        stored = store.computations.get(evaluation["computation_id"])
        transforms = {name: job.parent / path for name, path in spec["transforms"].items()}
        linker = store.linkers.find_one({"name": spec["linker"]["name"]})
        linked = store.run_linker(linker["id"], transforms)
        control = spec["controls"][0]
        computation = store.evaluate_control(
            evaluation["control_id"],
            linked["records"],
            transforms,
            control["transform"],
            control["period"],
            control.get("params"),
            control.get("scope"),
        )
    assert computation["controlId"] == str(stored["controlId"])
    assert computation["evidences"]
    assert len(computation["evidences"]) == len(stored["evidences"])
    assert [e["key"] for e in computation["evidences"]] == [e["key"] for e in stored["evidences"]]
    assert computation["value"] == stored["value"]
