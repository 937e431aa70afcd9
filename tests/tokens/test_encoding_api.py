"""The tiktoken-shaped API: names, sizes, errors, pickling, threads and the rank data."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from devsynth import tokens
from devsynth.errors import DevSynthError, UnknownEncodingError, UnknownModelError
from devsynth.tokens.load import RANK_FILE_SHA256, load_tiktoken_bpe, rank_file_path
from tests.support.reference import tiktoken_encoding

ALL = tokens.list_encoding_names()


def test_lists_all_seven_tiktoken_encodings() -> None:
    assert ALL == [
        "gpt2",
        "r50k_base",
        "p50k_base",
        "p50k_edit",
        "cl100k_base",
        "o200k_base",
        "o200k_harmony",
    ]


@pytest.mark.parametrize("name", ALL)
def test_sizes_specials_and_pattern_equal_tiktoken(name: str) -> None:
    ours, ref = tokens.get_encoding(name), tiktoken_encoding(name)
    assert ours.name == ref.name
    assert ours.n_vocab == ref.n_vocab
    assert ours.max_token_value == ref.max_token_value
    assert ours.eot_token == ref.eot_token
    assert ours.special_tokens_set == ref.special_tokens_set
    assert ours._special_tokens == ref._special_tokens
    assert ours._pat_str == ref._pat_str
    assert ours.is_special_token(ours.eot_token) and not ours.is_special_token(0)


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base", "o200k_base"])
def test_mergeable_ranks_and_token_values_equal_tiktoken(name: str) -> None:
    ours, ref = tokens.get_encoding(name), tiktoken_encoding(name)
    assert ours._mergeable_ranks == ref._mergeable_ranks
    assert ours.token_byte_values() == ref.token_byte_values()


@pytest.mark.parametrize("stem", sorted(RANK_FILE_SHA256))
def test_shipped_rank_files_are_byte_identical_to_openais(stem: str) -> None:
    data = rank_file_path(stem).read_bytes()
    assert hashlib.sha256(data).hexdigest() == RANK_FILE_SHA256[stem]


def test_compiled_tables_hold_exactly_the_shipped_files() -> None:
    for name in ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]:
        assert tokens.get_encoding(name)._mergeable_ranks == load_tiktoken_bpe(rank_file_path(name))


def test_get_encoding_is_cached_and_the_same_object() -> None:
    assert tokens.get_encoding("cl100k_base") is tokens.get_encoding("cl100k_base")
    assert tokens.encoding_for_model("gpt-4") is tokens.get_encoding("cl100k_base")


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-2024-05-13",
        "gpt-4",
        "gpt-4-0314",
        "gpt-3.5-turbo-0301",
        "gpt-35-turbo",
        "o1",
        "o3-mini",
        "gpt-5-nano",
        "gpt-oss-120b",
        "ft:gpt-4o:org::id",
        "text-davinci-003",
        "text-davinci-edit-001",
        "davinci",
        "text-embedding-3-small",
        "gpt2",
    ],
)
def test_model_table_equals_tiktoken(model: str) -> None:
    import tiktoken

    assert tokens.encoding_name_for_model(model) == tiktoken.encoding_name_for_model(model)


def test_unknown_names_list_what_exists() -> None:
    with pytest.raises(UnknownEncodingError, match="cl100k_base") as e:
        tokens.get_encoding("cl100k")
    assert isinstance(e.value, ValueError) and isinstance(e.value, DevSynthError)
    with pytest.raises(UnknownModelError, match="gpt-4o") as m:
        tokens.encoding_for_model("no-such-model")
    assert isinstance(m.value, KeyError)


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a"]])
def test_non_str_text_is_a_type_error(bad: object) -> None:
    enc = tokens.get_encoding("o200k_base")
    for method in (enc.encode, enc.encode_ordinary, enc.count, enc.count_ordinary):
        with pytest.raises(TypeError):
            method(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tokens.get_encoding(3)  # type: ignore[arg-type]


def test_batch_of_a_single_str_is_refused() -> None:
    enc = tokens.get_encoding("o200k_base")
    with pytest.raises(TypeError, match="single str"):
        enc.encode_ordinary_batch("abc")  # type: ignore[arg-type]


def test_decode_refuses_ids_that_are_no_token() -> None:
    enc = tokens.get_encoding("cl100k_base")
    for bad in [100256, 10**7, -1, 2**40]:
        with pytest.raises(KeyError, match=str(bad)):
            enc.decode([bad])
        with pytest.raises(KeyError):
            enc.decode_single_token_bytes(bad)
    with pytest.raises(TypeError):
        enc.decode(["a"])  # type: ignore[list-item]
    with pytest.raises(KeyError):
        enc.encode_single_token("not one token at all")


def test_disallowed_special_is_a_value_error_naming_the_token() -> None:
    enc = tokens.get_encoding("cl100k_base")
    with pytest.raises(ValueError, match="<\\|endoftext\\|>"):
        enc.encode("x <|endoftext|>")
    assert enc.encode("x <|endoftext|>", allowed_special={"<|endoftext|>"})[-1] == 100257
    assert enc.encode("x <|endoftext|>", disallowed_special=()) == enc.encode_ordinary(
        "x <|endoftext|>"
    )
    # Any string can be refused, as in tiktoken, not only special tokens.
    with pytest.raises(ValueError, match="foo"):
        enc.encode("foo", disallowed_special={"foo"})


def test_single_token_round_trips() -> None:
    enc = tokens.get_encoding("cl100k_base")
    assert enc.encode_single_token("hello") == 15339
    assert enc.encode_single_token(b"<|endoftext|>") == 100257
    assert enc.decode_single_token_bytes(15339) == b"hello"
    assert enc.decode_tokens_bytes([15339, 1917]) == [b"hello", b" world"]
    assert enc.decode_with_offsets([15339, 1917]) == ("hello world", [0, 5])


def test_harmony_shared_rank_decodes_to_its_first_name() -> None:
    # tiktoken maps both <|endofprompt|> and <|reserved_200018|> to 200018 and decodes it to
    # whichever its hash map yields; we always give the first, <|endofprompt|>.
    enc = tokens.get_encoding("o200k_harmony")
    assert enc.encode("<|reserved_200018|>", allowed_special="all") == [200018]
    assert enc.decode([200018]) == "<|endofprompt|>"


def test_pickles_by_name_cheaply() -> None:
    enc = tokens.get_encoding("o200k_base")
    data = pickle.dumps(enc)
    assert len(data) < 200
    assert pickle.loads(data) is enc


def test_custom_encoding_round_trips_through_pickle() -> None:
    ranks = {bytes([b]): b for b in range(256)}
    ranks[b"ab"] = 256
    enc = tokens.Encoding(
        "tiny", pat_str=r"\w+|\s+|[^\w\s]+", mergeable_ranks=ranks, special_tokens={"<x>": 300}
    )
    assert enc.encode("abab <x>", allowed_special="all") == [256, 256, 32, 300]
    clone = pickle.loads(pickle.dumps(enc))
    assert clone.encode("abab") == [256, 256]
    with pytest.raises(ValueError, match="explicit_n_vocab"):
        tokens.Encoding(
            "bad", pat_str=r"\w+", mergeable_ranks=ranks, special_tokens={}, explicit_n_vocab=5
        )


def test_threads_share_one_encoding_safely() -> None:
    enc = tokens.get_encoding("o200k_base")
    texts = [f"text number {i} " * (i % 50 + 1) for i in range(400)]
    expected = [enc.encode_ordinary(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(enc.encode_ordinary, texts)) == expected
        assert list(pool.map(enc.count_ordinary, texts)) == [len(e) for e in expected]


def test_num_threads_must_be_positive() -> None:
    enc = tokens.get_encoding("o200k_base")
    with pytest.raises(ValueError, match="num_threads"):
        enc.count_batch(["a", "b"], num_threads=0)


def test_first_use_needs_no_network_and_no_cache_directory(tmp_path: object) -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('network used')\n"
        "socket.socket.connect = refuse\n"
        "from devsynth import tokens\n"
        "for n in tokens.list_encoding_names():\n"
        "    assert tokens.get_encoding(n).encode('hello world')\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TIKTOKEN_CACHE_DIR": "/nonexistent"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "ok"


def test_first_encode_imports_nothing_but_the_package() -> None:
    # A cold start is mostly imports: typing, threading and pathlib (with collections, re,
    # functools and urllib behind them) took 24-31 of its 27-34 ms on the 2-core VM. The
    # encoding path needs none of them; a module that imports one at the top undoes that.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from devsynth import tokens\n"
        "assert tokens.get_encoding('o200k_base').encode_ordinary('hello world')\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = set(out.stdout.split())
    assert "devsynth.tokens.core" in added
    assert {m for m in added if m.split(".")[0] != "devsynth"} <= {"__future__", "_thread"}
    # The rank-file helpers still answer from the package, loaded on first use.
    assert tokens.rank_file_path("o200k_base").name == "o200k_base.tiktoken"
    assert tokens.load_tiktoken_bpe is load_tiktoken_bpe
    with pytest.raises(AttributeError, match="no_such_name"):
        tokens.no_such_name  # noqa: B018


@pytest.mark.parametrize("threads", [None, 1, 2, 3])
def test_large_batches_keep_order_and_equal_single_calls(threads: int | None) -> None:
    enc = tokens.get_encoding("o200k_base")
    texts = [f"document {i}: " + "héllo wörld 日本語 " * (i % 7) for i in range(1_000)]
    expected = [enc.encode_ordinary(t) for t in texts]
    assert enc.encode_ordinary_batch(texts, num_threads=threads) == expected
    assert enc.encode_batch(texts, num_threads=threads) == expected
    assert enc.count_batch(texts, num_threads=threads) == [len(e) for e in expected]


def test_an_error_inside_a_large_batch_is_raised_not_lost() -> None:
    enc = tokens.get_encoding("cl100k_base")
    texts = ["plain text"] * 1_000
    texts[517] = "a <|endoftext|> inside"
    with pytest.raises(ValueError, match="endoftext"):
        enc.encode_batch(texts, num_threads=2)
    assert enc.encode_batch(texts, num_threads=2, allowed_special="all")[517][-2] == 100257


def test_token_lists_share_ints_that_outlive_every_list() -> None:
    # Lists of a built-in encoding hold shared ints, each made holding many references of its
    # own: dropping any number of lists never frees one under a live list.
    enc = tokens.get_encoding("o200k_base")
    text = "shared ints outlive the lists that drop them"
    first = enc.encode_ordinary(text)
    for _ in range(20_000):
        dropped = enc.encode_ordinary(text)
        del dropped
    again = enc.encode_ordinary(text)
    assert again == first
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert all(sys.getrefcount(t) > 2**31 for t in first if t > 256)
    assert [int(str(t)) for t in first] == first


SMALL_INTS_PROBE = """
import sys
from devsynth import tokens
text = "!\\"#$%&'()*+,-./0123456789:;<=>?@[]^_`{|}~ " * 50
def counts_are_plain(toks):
    # From 3.12 small ints are immortal, with a count of the interpreter's own.
    return sys.version_info >= (3, 12) or all(
        0 < sys.getrefcount(t) < 2**40 for t in toks if t <= 256
    )
kept = []
for name in ("o200k_base", "cl100k_base", "p50k_base", "r50k_base"):
    enc = tokens.get_encoding(name)
    for _ in range(200):
        toks = enc.encode_ordinary(text)
    assert any(t <= 256 for t in toks), name
    assert counts_are_plain(toks), name
    kept.append((enc, toks))
for enc, toks in kept:
    assert enc.decode(toks) == text
print("ok")
"""


def test_small_ints_are_counted_not_held_by_every_encoding() -> None:
    # Ids 0 to 256 are CPython's shared small ints: an encoding's table must not give them
    # held references (four tables' worth overflowed their counts, and CPython 3.10 freed
    # them). A fresh interpreter, so that the first table is this test's own.
    proc = subprocess.run(
        [sys.executable, "-c", SMALL_INTS_PROBE], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
