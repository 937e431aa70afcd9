"""The bulk functions inside distributed engines: a real Dask cluster of two worker processes on
127.0.0.1 counts a partitioned frame with `map_partitions`, and each worker loads an encoding
once, however many tasks unpickle it (an Encoding pickles by name). Ray Data is tested the
same way when ray is installed."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from devsynth.tokens import get_encoding
from devsynth.tokens.core import Encoding
from devsynth.tokens.frames import count_series, with_token_counts
from tests.support import corpus


def encoding_identity(_: int, enc: Encoding) -> tuple[int, int, bool]:
    """Runs on a worker: which process, which Encoding object, and whether it is the shared one
    of the worker's registry (built there once, on first use)."""
    from devsynth.tokens import registry

    return os.getpid(), id(enc), registry.is_registered(enc)


def loaded_encodings() -> list[str]:
    """Runs on a worker: the encodings its registry has built."""
    from devsynth.tokens import registry

    return sorted(registry._ENCODINGS)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus.short_documents(400, 20, 800)


def test_an_encoding_pickles_by_name_in_a_few_bytes() -> None:
    enc = get_encoding("o200k_base")
    data = pickle.dumps(enc)
    assert len(data) < 120
    assert pickle.loads(data) is enc


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    client = distributed.Client(cluster, timeout=60)
    try:
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        client.close()
        cluster.close()


def test_dask_map_partitions_counts_on_worker_processes(dask_client: Any, texts: list[str]) -> None:
    import dask.dataframe as dd
    import pandas as pd

    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    ddf = dd.from_pandas(frame, npartitions=8)
    counted = ddf.map_partitions(with_token_counts, "text", "cl100k_base").compute()
    cl = get_encoding("cl100k_base")
    assert counted.sort_values("id")["tokens"].tolist() == [cl.count_ordinary(t) for t in texts]
    series = ddf["text"].map_partitions(count_series, meta=("text", "int64")).compute()
    assert series.sort_index().tolist() == [
        get_encoding("o200k_base").count_ordinary(t) for t in texts
    ]


def test_each_dask_worker_loads_the_encoding_once(dask_client: Any) -> None:
    enc = get_encoding("p50k_base")
    workers = sorted(dask_client.scheduler_info()["workers"])
    assert len(workers) == 2
    futures = [
        dask_client.submit(encoding_identity, i, enc, workers=[w], pure=False)
        for i in range(12)
        for w in workers
    ]
    seen = dask_client.gather(futures)
    pids = {pid for pid, _, _ in seen}
    assert len(pids) == 2 and os.getpid() not in pids
    for pid in pids:
        ids = {obj for p, obj, _ in seen if p == pid}
        assert len(ids) == 1, "one Encoding object per worker process"
    assert all(shared for _, _, shared in seen)
    for names in dask_client.run(loaded_encodings).values():
        assert names.count("p50k_base") == 1


def test_ray_data_map_batches_over_arrow(texts: list[str]) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        ds = ray.data.from_items([{"text": t} for t in texts[:50]])
        out = ds.map_batches(
            with_token_counts, fn_kwargs={"column": "text"}, batch_format="pyarrow"
        ).take_all()
        enc = get_encoding("o200k_base")
        assert sorted(r["tokens"] for r in out) == sorted(enc.count_ordinary(t) for t in texts[:50])
    finally:
        ray.shutdown()
