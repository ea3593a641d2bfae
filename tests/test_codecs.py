"""The shared codecs: subsets of a finite set as sorted member ids or as bits."""
import numpy as np

from loopengine.pool import Pool
from loopengine.problems.codecs import BitCodec, SubsetCodec

ROWS = np.array([[0, 1, 0, 1, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=np.uint8)


def test_subset_codec_writes_sorted_member_ids_and_reads_them_back():
    codec = SubsetCodec(["a", "b", "c", "d", "e"], max_tokens=3)
    assert codec.vocabulary() == ["a", "b", "c", "d", "e"]
    assert codec.max_answer_tokens() == 3
    tokens = codec.encode(Pool(objects=ROWS))
    assert tokens == [[1, 3, 4], [], [0]]
    back = codec.decode(tokens, None)
    assert back.objects.dtype == np.uint8
    assert (back.objects == ROWS).all()
    assert list(back.origin) == ["sample"] * 3


def test_subset_codec_drops_ids_outside_the_set_and_repeats():
    codec = SubsetCodec([str(i) for i in range(5)])
    assert codec.max_answer_tokens() == 5  # default: the whole set
    out = codec.decode([[4, 7, -1, 4], [2, 0, 2]], None).objects
    assert out.tolist() == [[0, 0, 0, 0, 1], [1, 0, 1, 0, 0]]


def test_relabel_applies_before_encoding_only():
    reverse = lambda objects: objects[:, ::-1]  # noqa: E731
    codec = SubsetCodec([str(i) for i in range(5)], relabel=reverse)
    assert codec.encode(Pool(objects=ROWS)) == [[0, 1, 3], [], [4]]
    assert (codec.decode([[0, 1, 3]], None).objects == ROWS[:1, ::-1]).all()


def test_bit_codec_is_one_token_per_member_and_pads_short_samples():
    codec = BitCodec(5)
    assert codec.vocabulary() == ["0", "1"]
    assert codec.max_answer_tokens() == 5
    tokens = codec.encode(Pool(objects=ROWS))
    assert tokens == ROWS.tolist()
    assert (codec.decode(tokens, None).objects == ROWS).all()
    assert codec.decode([[1, 1], [0, 1, 0, 1, 1, 1, 1]], None).objects.tolist() == [[1, 1, 0, 0, 0], [0, 1, 0, 1, 1]]
