"""Checkpoint encoding and the writer thread: state comes back exactly, a save is whole or
absent, and an older snapshot never lands over a newer one. No Ray."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

import pipeline.sinks.checkpoint_writer as writer_module
from pipeline.analytics.config import AnalyticsConfig
from pipeline.sinks.checkpoint import FrozenCache, checkpoint_path, encode_state, load_checkpoint
from pipeline.sinks.checkpoint_writer import CheckpointWriter


def test_arrays_come_back_exactly_and_writable() -> None:
    rec = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])
    rec["a"] = [1, 2]
    arrays = {"f": np.arange(12.0).reshape(3, 4)[:, ::2], "b": np.array([True, False]),
              "i": np.array(7, np.int16), "e": np.zeros((0, 3), np.int64),
              "u": np.arange(4, dtype=">u4"), "t": np.array(["2026-12-04"], "datetime64[D]"),
              "c": np.array([1 + 2j]), "rec": rec, "o": np.array([None, "x"], object),
              "fortran": np.asfortranarray(np.arange(6).reshape(2, 3))}
    out = pickle.loads(encode_state(arrays))
    for key, a in arrays.items():
        assert out[key].dtype == a.dtype and out[key].shape == a.shape, key
        assert out[key].tolist() == a.tolist(), key
        assert out[key].flags.writeable, key
    out["f"][0, 0] = -1.0  # a copy of its own: the original is untouched
    assert arrays["f"][0, 0] == 0.0


def test_frozen_objects_are_pickled_once_and_come_back_equal() -> None:
    config = AnalyticsConfig(zones=[{"id": "z", "points": [[0, 0], [1, 0], [1, 1]]}])
    cache = FrozenCache((AnalyticsConfig,))
    state = {"a": config, "b": config, "n": 1}
    first = encode_state(state, cache)
    blob = cache._used[id(config)][1]
    state["n"] = 2
    second = pickle.loads(encode_state(state, cache))
    assert cache._blobs[id(config)][1] is blob  # not pickled again
    assert second["a"] == config and second["a"] is second["b"] and second["n"] == 2
    assert pickle.loads(first)["n"] == 1


def test_a_background_save_is_written_and_a_waited_one_is_on_disk_at_return(tmp_path) -> None:
    writer = CheckpointWriter(checkpoint_path(tmp_path, "run-1", 0))
    writer.save({"n": 1})
    writer.drain()
    assert load_checkpoint(writer.path) == {"n": 1}
    writer.save({"n": 2}, wait=True)
    assert load_checkpoint(writer.path) == {"n": 2}
    writer.close()
    writer.close()  # twice is fine
    assert not list(writer.path.parent.glob(".*.tmp"))


def test_an_older_snapshot_never_lands_over_a_newer_one(tmp_path, monkeypatch) -> None:
    written: list[int] = []
    release = threading.Event()
    real = writer_module.write_checkpoint

    def slow(path, data):
        if not written:
            release.wait(5)  # the first write is under way while more saves come
        written.append(pickle.loads(data)["n"])
        return real(path, data)

    monkeypatch.setattr(writer_module, "write_checkpoint", slow)
    writer = CheckpointWriter(checkpoint_path(tmp_path, "run-1", 0))
    writer.save({"n": 1})  # taken by the thread, blocked in its write
    while not writer._busy:
        threading.Event().wait(0.001)
    writer.save({"n": 2})  # queued
    writer.save({"n": 3})  # replaces it
    threading.Timer(0.2, release.set).start()
    writer.save({"n": 4}, wait=True)  # waits for 1, drops 3, writes itself
    writer.close()
    assert written == [1, 4]
    assert load_checkpoint(writer.path) == {"n": 4}


def test_a_failed_write_leaves_the_previous_checkpoint_and_is_reported(
        tmp_path, monkeypatch) -> None:
    writer = CheckpointWriter(checkpoint_path(tmp_path, "run-1", 0))
    writer.save({"n": 1}, wait=True)
    real = writer_module.write_checkpoint

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module, "write_checkpoint", full)
    writer.save({"n": 2})
    writer.drain()
    assert writer.failed and load_checkpoint(writer.path) == {"n": 1}
    with pytest.raises(OSError, match="No space"):
        writer.save({"n": 3}, wait=True)
    monkeypatch.setattr(writer_module, "write_checkpoint", real)
    writer.save({"n": 4})
    writer.close()
    assert not writer.failed and load_checkpoint(writer.path) == {"n": 4}


def test_buffered_tables_come_back_with_their_schema_and_old_pickles_still_read() -> None:
    import pyarrow as pa

    from pipeline.sinks.pending import PackedTables, unpack

    schema = pa.schema([("x", pa.int64()), ("s", pa.string())], metadata={b"k": b"v"})
    tables = [pa.table({"x": [i], "s": [f"r{i}"]}, schema=schema) for i in range(3)]
    whole = pa.concat_tables(tables)
    blobs = PackedTables().pack(tables)
    (back,) = unpack(blobs)
    assert back.equals(whole, check_metadata=True)
    old = pickle.dumps(whole, protocol=pickle.HIGHEST_PROTOCOL)  # an earlier version's blob
    assert unpack([old])[0].equals(whole, check_metadata=True)
