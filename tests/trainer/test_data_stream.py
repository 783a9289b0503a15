"""The trainer's prompt stream: seeded, positional, an epoch a permutation."""
from rlev_fast.trainer.data import DataStream


def test_data_stream_is_seeded_and_positional():
    a, b = DataStream(10, seed=3), DataStream(10, seed=3)
    first = a.take(7) + a.take(7)
    b.position = 7
    assert b.take(7) == first[7:]
    assert sorted(first[:10]) == list(range(10))  # an epoch is a permutation
