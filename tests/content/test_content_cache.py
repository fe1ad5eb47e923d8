"""ContentCache on real Redis: variants, invalidation, overlays, delivery counters."""

from __future__ import annotations

import threading

import pytest

from cachelayer.content import Dimensions
from cachelayer.errors import InvalidArgument, InvalidKey, InvalidValue, ValueTooLarge

from .conftest import DIMS, content_for, eventually


def test_variant_key_is_canonical(content):
    a = content.key("l1", {"locale": "fr", "level": 2})
    b = content.key("l1", {"level": "2", "locale": "fr", "arm": "control"})
    c = content.key("l1", {"level": 2, "locale": "fr", "arm": None})
    assert a == b == c
    assert content.key("l1", {"locale": "en"}) == content.key("l1") == content.key("l1", {})
    assert content.key("l1", {"locale": "de"}) != a


def test_variants_are_stored_apart_and_defaults_do_not_duplicate(content, cache):
    content.set("l1", "english", variant={"locale": "en"})
    content.set("l1", "french", variant={"locale": "fr"})
    assert content.get("l1") == "english"
    assert content.get("l1", {"arm": "control"}) == "english"
    assert content.get("l1", {"locale": "fr", "arm": "control"}) == "french"
    assert content.get("l1", {"locale": "de"}) is None
    assert content.get("l1", {"locale": "de"}, default="x") == "x"


def test_undeclared_dimension_is_a_typed_error(content):
    with pytest.raises(InvalidKey, match="'colour' is not declared"):
        content.get("l1", {"colour": "red"})
    with pytest.raises(InvalidKey, match=r"dimension 'locale'.*over the limit of 128"):
        content.key("l1", {"locale": "x" * 200})
    with pytest.raises(InvalidKey, match="str, int or bool"):
        content.key("l1", {"locale": 1.5})
    with pytest.raises(InvalidKey, match="item id"):
        content.get(None)


def test_open_dimensions_accept_any_name():
    dims = Dimensions()
    assert dims.key({"b": 1, "a": "x y"}) == "a=x%20y&b=1"
    with pytest.raises(InvalidKey, match="dimension names"):
        dims.key({"Bad Name": 1})


def test_version_and_entry(content):
    content.set("l2", {"title": "T"}, version=7)
    item = content.get_item("l2")
    assert item.version == 7 and item.value == {"title": "T"} and item.size > 0
    with pytest.raises(InvalidValue, match="version"):
        content.set("l2", 1, version=1.5)


def test_loader_runs_once_and_stores(content):
    calls = []

    def load():
        calls.append(1)
        return {"body": "x" * 100}

    assert content.get("l3", loader=load) == {"body": "x" * 100}
    assert content.get("l3", loader=load) == {"body": "x" * 100}
    assert len(calls) == 1
    totals = content.stats().totals
    assert totals.misses == 1 and totals.hits == 1 and totals.loads == 1
    assert totals.bytes_served > 200 and totals.load_seconds > 0


def test_a_content_miss_is_one_miss_of_the_cache(content, cache):
    before = cache.stats().misses
    content.get("l3b", loader=lambda: {"body": "y"})
    assert cache.stats().misses - before == 1


def test_concurrent_misses_share_one_loader_call(content):
    calls = []
    gate = threading.Event()

    def load():
        calls.append(1)
        gate.wait(1)
        return "v"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(content.get("l4", loader=load)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert results == ["v"] * 8
    assert len(calls) == 1


def test_invalidate_item_retires_every_variant_in_every_process(content, other):
    remote = content_for(other, dimensions=DIMS)
    content.set("l5", "en", variant={"locale": "en"})
    content.set("l5", "fr", variant={"locale": "fr"})
    content.set("l6", "untouched")
    assert remote.get("l5", {"locale": "fr"}) == "fr"  # now in the other L1
    assert remote.get("l5", {"locale": "fr"}) == "fr"
    content.invalidate("l5")
    assert content.get("l5") is None and content.get("l5", {"locale": "fr"}) is None
    assert eventually(lambda: remote.get("l5", {"locale": "fr"}) is None)
    assert remote.get("l6") == "untouched"


def test_invalidate_by_tag(content, other):
    remote = content_for(other, dimensions=DIMS)
    content.set("a", 1, tags=("course:1", "author:ann"))
    content.set("b", 2, tags=("course:1",))
    content.set("c", 3, tags=("course:2", "author:ann"))
    assert remote.get("c") == 3
    content.invalidate_tags("author:ann")
    assert content.get("a") is None and content.get("b") == 2
    assert eventually(lambda: remote.get("c") is None)
    content.invalidate_tags("course:1")
    assert content.get("b") is None


def test_generation_bump_retires_old_version_in_o1(content, cache, redis_url):
    import redis

    r = redis.Redis.from_url(redis_url)
    for lesson in range(20):
        for locale in ("en", "fr", "de"):
            content.set(f"lesson{lesson}", locale, {"locale": locale}, tags=["course:9"])
    assert content.generation("course:9") == 0
    r.config_resetstat()
    assert content.bump_generation("course:9") == 1
    calls = r.info("commandstats")
    assert "cmdstat_scan" not in calls and "cmdstat_keys" not in calls
    assert all(
        content.get(f"lesson{lesson}", {"locale": loc}) is None
        for lesson in range(20)
        for loc in ("en", "fr", "de")
    )
    assert content.generation("course:9") == 1
    content.set("lesson0", "new", tags=["course:9"])
    assert content.get("lesson0") == "new"


def test_dependency_invalidation_is_transitive(content, other):
    remote = content_for(other, dimensions=DIMS)
    content.set("term:x", "definition")
    content.set("glossary:x", "entry", depends_on=["term:x"])
    content.set("lesson:1", "lesson embedding glossary", depends_on=("glossary:x",))
    content.set("lesson:2", "independent")
    assert remote.get("lesson:1") == "lesson embedding glossary"
    content.invalidate("term:x")
    assert content.get("glossary:x") is None
    assert content.get("lesson:1") is None
    assert eventually(lambda: remote.get("lesson:1") is None)
    assert content.get("lesson:2") == "independent"


def test_dependency_limits(content):
    with pytest.raises(InvalidArgument, match="depends on itself"):
        content.set("self", 1, depends_on=["self"])
    with pytest.raises(InvalidArgument, match="over the limit of 64"):
        content.set("big", 1, depends_on=[f"d{i}" for i in range(65)])


def test_loader_stores_with_tags_and_dependencies(content):
    content.set("gloss", "g")
    assert content.get("page", loader=lambda: "p", tags=["t"], depends_on=["gloss"]) == "p"
    content.invalidate("gloss")
    assert content.get("page") is None
    content.get("page", loader=lambda: "p", tags=["t"])
    content.invalidate_tags("t")
    assert content.get("page") is None


def test_overlay_shares_the_base(content):
    content.set("l7", {"title": "Fractions", "body": "..." * 100})
    content.set_overlay("l7", "u1", {"progress": 0.4})
    merged = content.get_for_user("l7", "u1")
    assert merged["progress"] == 0.4 and merged["title"] == "Fractions"
    assert content.get_for_user("l7", "u2") == content.get("l7")
    content.invalidate_user("u1")
    assert "progress" not in content.get_for_user("l7", "u1")
    assert content.get_for_user("absent", "u1") is None
    assert content.get_for_user("absent", "u1", loader=lambda: {"t": 1}) == {"t": 1}


def test_overlay_is_bounded(content):
    with pytest.raises(ValueTooLarge, match=r"item 'l8' for user 'u1'.*over the limit of 4096"):
        content.set_overlay("l8", "u1", {"blob": "x" * 5000})
    content.set("l8", "text")
    content.set_overlay("l8", "u1", {"n": 1})
    with pytest.raises(InvalidValue, match="mapping"):
        content.get_for_user("l8", "u1")
    assert content.get_for_user("l8", "u1", merge=lambda b, o: (b, o)) == ("text", {"n": 1})


def test_top_items_by_count_min_sketch(content):
    for i in range(30):
        content.set(f"i{i}", i)
    for _ in range(50):
        content.get("i3")
    for _ in range(20):
        content.get("i7")
    for i in range(30):
        content.get(f"i{i}")
    top = content.stats(top=2).top
    assert [t.item_id for t in top] == ["i3", "i7"]
    assert top[0].requests >= 51 and top[0].stats.hits == 51


def test_foreign_value_under_a_content_key_is_a_miss(content, cache):
    cache.set(content.key("f"), "not an entry")
    assert content.get("f") is None
    assert content.get("f", loader=lambda: "loaded") == "loaded"
    assert content.get("f") == "loaded"
