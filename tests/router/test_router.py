"""Behaviour of the shipped router: scores, determinism, history, reasons, CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from desktop.core.types import ChatMessage
from desktop.router import Score, load_router, text_features
from desktop.router.cli import route_main
from desktop.router.features import DENSE_NAMES, strip_choices


@pytest.fixture(scope="module")
def router():
    return load_router()


def user(text):
    return [ChatMessage("user", text)]


MATHS = "Solve for x: 3x^2 + 2x - 5 = 0. Then compute the sum of the squares of the roots and explain each step."
CODE = ("Write a Python function that merges k sorted linked lists in O(n log k) and explain its complexity.\n"
        "```python\ndef merge(lists):\n    pass\n```")
SMALL_TALK = "hi, how are you"


def test_weights_load_with_manifest(router):
    m = router.manifest
    assert m["features"]["dense"] == list(DENSE_NAMES)
    assert {d["file"] for d in m["data"]} == {"routing-bench/mmlu.jsonl.gz", "routing-bench/gsm8k.jsonl.gz",
                                              "routing-bench/chat.jsonl.gz"}
    chat = m["metrics"]["chat"]
    assert chat["router"]["mixtral_apgr"] > chat["prompt_length"]["mixtral_apgr"]
    assert chat["router"]["mean_apgr_14"] > chat["random"]["mean_apgr_14"]
    assert all(len(d["sha256"]) == 64 and d["rows"] > 0 for d in m["data"])
    assert "MIT" in m["licence"] and "RouteLLM" in m["licence"] and "arena-hard-auto" in m["licence"]
    assert m["seed"] == m["model"]["recipe"]["seed"]
    assert 0.0 < m["metrics"]["mmlu"]["router"]["apgr"] < 1.0
    q = router.reference_scores
    assert q.size >= 101 and np.all(np.diff(q) >= 0) and q[0] >= 0 and q[-1] <= 1


def test_maths_and_code_score_above_small_talk(router):
    chat = router.score(user(SMALL_TALK)).value
    assert router.score(user(MATHS)).value > chat
    assert router.score(user(CODE)).value > chat


@pytest.mark.parametrize("text", ["", " ", "hi", MATHS, CODE, "日本語の質問です。" * 30, "x" * 30_000,
                                  "A. one\nB. two", "\x00\ud800 broken"])
def test_scores_are_probabilities(router, text):
    s = router.score(user(text))
    assert isinstance(s, Score)
    assert 0.0 <= s.value <= 1.0 and np.isfinite(s.value)
    assert all(isinstance(r, str) and r for r in s.reasons)


def test_deterministic_across_loads(router):
    other = load_router()
    for t in (MATHS, CODE, SMALL_TALK):
        assert router.score(user(t)).value == other.score(user(t)).value


def test_batch_equals_single(router):
    texts = [MATHS, CODE, SMALL_TALK, "What is the capital of France?", "z" * 5000]
    batch = router.score_texts(texts)
    single = np.array([router.score(user(t)).value for t in texts])
    assert batch.shape == (5,)
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-12)


def test_multi_turn_uses_history(router):
    follow_up = "Now make it faster and handle empty inputs."
    alone = router.score(user(follow_up))
    convo = [
        ChatMessage("user", CODE),
        ChatMessage("assistant", "Here is a heap-based version ..."),
        ChatMessage("user", follow_up),
    ]
    with_history = router.score(convo)
    assert with_history.value > alone.value
    # the history carries the task type: code shows among the reasons
    assert any("code" in r or "programming" in r for r in with_history.reasons)
    # assistant turns are not read
    convo2 = list(convo)
    convo2[1] = ChatMessage("assistant", "completely different words " * 50)
    assert router.score(convo2).value == with_history.value


def test_reasons_explain_the_score(router):
    s = router.score(user(MATHS))
    assert s.reasons and len(s.reasons) <= 3
    assert any("math" in r for r in s.reasons)
    names = [n for n, _ in s.contributions]
    assert "maths_words" in names
    # small talk goes to the weak model because it is short: the reason says so
    assert any("short" in r for r in router.score(user(SMALL_TALK)).reasons[:2])


def test_multiple_choice_options_are_stripped():
    stem, options = strip_choices("What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:")
    assert stem == "What is 2+2?" and options == ["3", "4", "5", "6"]
    text = "Plan a trip:\nA. Paris first\nthen Rome"
    assert strip_choices(text) == (text, [])


# the same stem, with worded options a reader must tell apart by a detail, or options that
# differ at a glance (the confusability cue that carries over to unseen MMLU subjects)
ALIKE = ("For which of these two scenarios does the main character do something clearly morally "
         "wrong?\nA. Wrong, Wrong\nB. Wrong, Not wrong\nC. Not wrong, Wrong\nD. Not wrong, Not wrong\nAnswer:")
DISTINCT = ("For which of these two scenarios does the main character do something clearly morally "
            "wrong?\nA. Stealing bread\nB. Paying taxes\nC. Helping a neighbour\nD. Reading poetry\nAnswer:")


def test_confusable_answer_options_raise_the_score(router):
    alike, distinct = router.score(user(ALIKE)), router.score(user(DISTINCT))
    assert alike.value > distinct.value
    assert "answer options that look alike" in alike.reasons or "two near-identical answer options" in alike.reasons
    names = dict(alike.contributions)
    assert names["options_similarity"] > 0 and names["options_max_similarity"] > 0


def test_option_similarity_features():
    i_mean, i_max, i_num = (DENSE_NAMES.index(n) for n in
                            ("options_similarity", "options_max_similarity", "options_numeric_alike"))
    alike, distinct = text_features(ALIKE).dense, text_features(DISTINCT).dense
    assert alike[i_mean] > 0.3 > distinct[i_mean] >= 0.0
    assert 0.0 < alike[i_max] <= 1.0 and alike[i_max] >= alike[i_mean]
    assert alike[i_num] == 0.0  # worded options: not a calculation
    numeric = text_features("How many moles remain?\nA. 2.5 mol\nB. 2.05 mol\nC. 2.55 mol\nD. 25 mol").dense
    assert numeric[i_num] > 0.0
    free_form = text_features("Which is wrong: stealing bread or paying taxes? Explain.").dense
    assert free_form[[i_mean, i_max, i_num]].tolist() == [0.0, 0.0, 0.0]


def test_long_prompts_are_bounded(router):
    f = text_features("word " * 50_000)
    assert f.idx.size < 20_000
    assert np.isfinite(router.score_texts(["word " * 50_000])[0])


def test_cli_route_json_and_batch():
    out = io.StringIO()
    assert route_main(["--json", MATHS], stdout=out) == 0
    d = json.loads(out.getvalue())
    assert d["choice"] in ("strong", "weak") and 0 <= d["score"] <= 1
    assert {"threshold", "reason", "policy", "reasons", "contributions"} <= set(d)
    lines = "\n".join(json.dumps({"prompt": t, "id": i}) for i, t in enumerate([MATHS, SMALL_TALK] * 50))
    out = io.StringIO()
    assert route_main(["--batch"], stdin=io.StringIO(lines + "\nnot json\n"), stdout=out) == 0
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(rows) == 101 and rows[-1].keys() == {"error"}
    assert rows[0]["score"] > rows[1]["score"] and rows[3]["id"] == 3


def test_files_read_ahead_make_the_same_router_and_are_taken_once(tmp_path):
    """The window reads the weights in a worker thread (``preload_router_files``) and builds
    the router on its own thread: the router is the one the files make, read once."""
    import shutil

    from desktop.router import default_resource_dir, preload_router_files

    folder = tmp_path / "router"
    shutil.copytree(default_resource_dir(), folder)
    preload_router_files(folder)
    (folder / "weights.npz").unlink()  # from here on only what was read ahead exists
    ahead = load_router(folder)
    plain = load_router()
    texts = [MATHS, CODE, SMALL_TALK]
    assert ahead.score_texts(texts).tolist() == plain.score_texts(texts).tolist()
    assert ahead.manifest == plain.manifest
    with pytest.raises(OSError):
        load_router(folder)  # taken by the first load: a second one reads the (gone) files
