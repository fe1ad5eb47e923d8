"""A newly activated dictionary ends the selector's learned pause."""

from __future__ import annotations


def test_activating_a_dictionary_ends_the_backoff(impl):
    codec = impl.Codec(namespace="r")
    small = [
        {
            "user_id": i,
            "name": f"user{i}",
            "roles": ["reader"],
            "lang": "en-GB",
            "prefs": {"theme": "dark", "digest": "weekly"},
            "cart": [{"sku": f"SKU-{i}"}],
        }
        for i in range(400)
    ]
    reasons = [codec.encode_traced(v)[1].reason for v in small[:200]]
    assert "backoff" in reasons  # small values do not compress alone: the selector pauses
    codec.train_dictionary(small, size=4096)
    trace = codec.encode_traced(small[300])[1]
    assert trace.reason != "backoff"
    assert trace.codec == "zstd-dict"
