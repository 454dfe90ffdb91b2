"""The user cache: values come back as built, stale or damaged entries are rebuilt, and the
cached catalog and API prices equal the ones parsed afresh."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetplan import disk_cache
from fleetplan.catalog import _parse, load_catalog
from fleetplan.catalog.api_prices import _from_genai, api_price
from fleetplan.disk_cache import cached, file_stamp


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(disk_cache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting(value: object) -> tuple[list[int], object]:
    calls: list[int] = []

    def build() -> object:
        calls.append(1)
        return value

    return calls, build


def test_a_value_is_built_once_and_read_back(folder: Path) -> None:
    calls, build = counting({"a": [1, 2.5]})
    assert cached("t", ("k",), build) == {"a": [1, 2.5]}
    assert cached("t", ("k",), build) == {"a": [1, 2.5]}
    assert len(calls) == 1
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert [p.suffix for p in folder.iterdir()] == [".pickle"]  # no temporary file left


def test_another_key_is_another_entry(folder: Path) -> None:
    calls, build = counting(1)
    cached("t", ("k", 1), build)
    cached("t", ("k", 2), build)
    assert len(calls) == 2


def test_each_kind_keeps_only_its_newest_entries(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(disk_cache, "KEEP_PER_KIND", 3)
    for i in range(6):
        cached("t", ("k", i), lambda i=i: i)
        for p in folder.iterdir():  # distinct file times, oldest first, whatever the clock's grain
            if not os.path.getmtime(p) < 1e6:
                os.utime(p, ns=(i * 10**9 + 1, i * 10**9 + 1))
    cached("other", ("k",), lambda: 0)
    names = sorted(p.name.split("-")[0] for p in folder.iterdir())
    assert names == ["other", "t", "t", "t"]
    for i, expect_rebuilt in ((5, False), (4, False), (0, True)):
        calls, build = counting(i)
        assert cached("t", ("k", i), build) == i
        assert bool(calls) == expect_rebuilt


def test_an_edited_file_changes_the_key(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text("a = 1\n")
    before = file_stamp(f)
    f.write_text("a = 22\n")
    assert file_stamp(f) != before


def test_a_damaged_entry_is_rebuilt(folder: Path) -> None:
    calls, build = counting("v")
    cached("t", ("k",), build)
    for entry in folder.iterdir():
        entry.write_bytes(b"not a pickle")
    assert cached("t", ("k",), build) == "v"
    assert len(calls) == 2


def test_a_folder_others_can_write_is_not_read(folder: Path) -> None:
    calls, build = counting("v")
    cached("t", ("k",), build)
    os.chmod(folder, 0o777)
    cached("t", ("k",), build)
    assert len(calls) == 2


def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(disk_cache.ENV, "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    calls, build = counting("v")
    cached("t", ("k",), build)
    cached("t", ("k",), build)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_only_costs_time(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(disk_cache.ENV, str(blocker / "cache"))  # under a file: cannot exist
    assert cached("t", ("k",), lambda: 7) == 7


def test_cached_catalog_equals_a_fresh_parse(folder: Path) -> None:
    from fleetplan.catalog import _load

    _load.cache_clear()
    first = load_catalog()  # parsed, then stored
    _load.cache_clear()
    second = load_catalog()  # read back
    assert any(folder.glob("catalog-*.pickle"))
    assert second == first == _parse(())
    _load.cache_clear()


def test_user_catalog_edits_are_seen(folder: Path, tmp_path: Path) -> None:
    from fleetplan.catalog import _load

    user = tmp_path / "mine.toml"
    user.write_text('[gpus.h100-sxm]\nname = "first"\n')
    assert load_catalog(user).gpu("h100-sxm").name == "first"
    _load.cache_clear()
    user.write_text('[gpus.h100-sxm]\nname = "second name"\n')
    assert load_catalog(user).gpu("h100-sxm").name == "second name"
    _load.cache_clear()


def test_cached_api_price_equals_genai_prices(folder: Path) -> None:
    for batch in (False, True):
        first = api_price("gpt-4o", batch=batch)
        assert api_price("gpt-4o", batch=batch) == first == _from_genai("gpt-4o", None, batch)
    assert any(folder.glob("api-price-*.pickle"))


def test_an_edited_catalog_module_rebuilds_the_cached_catalog(folder: Path, monkeypatch) -> None:
    import fleetplan.catalog as catalog_pkg
    from fleetplan.catalog import _load

    _load.cache_clear()
    load_catalog()
    stamps: list[tuple] = []
    real = disk_cache.cached

    def spy(kind, key, build):
        stamps.append(key)
        return real(kind, key, build)

    monkeypatch.setattr(disk_cache, "cached", spy)
    _load.cache_clear()
    load_catalog()
    code = {s[0] for s in stamps[0] if s[0].endswith(".py")}
    assert str(Path(catalog_pkg.__file__).parent / "schema.py") in code
    _load.cache_clear()
