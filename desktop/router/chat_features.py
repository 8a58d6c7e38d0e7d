"""What a chat request asks for, read from its wording: the features the chat part of the
router learns from (``CHAT_NAMES``), computed from one pass over the
lower-cased words (a dictionary look-up per word, and after a word that starts a two- or
three-word phrase, one for each word that follows).

Each word family is counted (``log1p`` of the matches) and flagged (any match): code to write
and languages named, puzzles, proofs, maths, step-by-step reasoning, creative writing, lists of
ideas, advice, lookups, rewriting, explicit constraints, specialist vocabulary, a long or a
short answer asked for, a persona, greetings. Beside them: length (and its square around the
typical chat prompt, for "very short" and "very long"), pasted code, numbers, questions,
lines, whether the prompt opens with an instruction or a question, capitals and maths symbols.

Case is ignored. Long prompts are read as the first 4,000 and the last 2,000 characters, as
in ``features``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import compress
from typing import cast

import numpy as np

from .charcount import UPPER, bin_of, char_counts

__all__ = ["CHAT_NAMES", "CHAT_GROUPS", "chat_features", "conversation_chat_features"]


_GROUP_WORDS: dict[str, str] = {
    "code_ask": (r"write|implement|code|script|program|function|class|algorithm|snippet|build|create|"
                 r"develop|debug|fix|refactor"),
    "code_lang": (r"python|javascript|typescript|java|rust|golang|go|sql|mysql|bash|shell|html|css|"
                  r"react|ruby|php|kotlin|swift|haskell|coq|lean|qiskit|pandas|numpy|regex|api|json|excel|"
                  r"vba|matlab|latex"),
    "puzzle": (r"riddle|puzzle|trick|logic|logical|paradox|brain|teaser|suppose|assume|assuming|imagine|if"),
    "proof": (r"prove|proof|theorem|lemma|derive|derivation|demonstrate"),
    "maths": (r"probability|integer|integers|equation|solve|calculate|compute|sum|product|prime|number|"
              r"numbers|digits|percent|ratio|average|total|how many|how much|how long"),
    "stepwise": (r"step by step|step-by-step|explain|reasoning|reason|why|justify|think"),
    "creative": (r"story|poem|poems|song|lyrics|essay|novel|fiction|character|characters|creative|joke|"
                 r"haiku|limerick|rap|script|screenplay|dialogue|adventure|roleplay|role-play"),
    "ideas": (r"ideas|idea|suggest|suggestions|tips|brainstorm|recommend|recommendations|list|examples|"
              r"names|plan|outline"),
    "advice": (r"should i|advice|help me|how do i|how can i|how to|best way|what are some"),
    "lookup": (r"what is|who is|who was|when did|when was|where is|define|definition|meaning|capital|what are"),
    "rewrite": (r"rewrite|rephrase|paraphrase|summarize|summarise|summary|translate|correct|proofread|"
                r"grammar|format|shorten|improve"),
    "constraint": (r"must|only|without|exactly|at least|at most|no more than|never|always|ensure|make sure|"
                   r"don't|do not|each|every|all|rhyme|rhymes|within|limit|words|lines"),
    "expert": (r"quantum|chemistry|chemical|physics|molecule|reaction|pharmaceutical|clinical|medical|legal|"
               r"law|finance|financial|statistics|statistical|regression|neural|transformer|"
               r"machine learning|deep learning|optimization|optimisation|compiler|kernel|cryptography|"
               r"thermodynamics|electronics|circuit"),
    "long_answer": (r"detailed|comprehensive|complete|full|thorough|in depth|in-depth|elaborate|essay|"
                    r"report|article|all"),
    "short_answer": (r"briefly|brief|short|one word|one sentence|concise|concisely|quick|simply|yes or no|"
                     r"tl;dr"),
    "persona": (r"you are|act as|pretend|imagine you|as a|role"),
    "greeting": (r"hi|hello|hey|thanks|thank you|please"),
}
# every word and phrase (up to three words, "|"-separated) -> the families it belongs to
_LOOKUP: dict[str, tuple[int, ...]] = {}
for _k, _ws in enumerate(_GROUP_WORDS.values()):
    for _w in _ws.split("|"):
        _LOOKUP[_w] = (*_LOOKUP.get(_w, ()), _k)
_LOOKUP["show that"] = (*_LOOKUP.get("show that", ()), list(_GROUP_WORDS).index("proof"))
_Families = tuple[int, ...]
# the phrases by their first word: second word -> families (two-word phrases), and second word
# -> third word -> families (three-word ones), so a phrase is found from words already split
# off rather than by joining each starting word to the next ones and looking the result up
_Phrases = tuple[dict[str, _Families], dict[str, dict[str, _Families]]]
_PHRASES: dict[str, _Phrases] = {}
for _key, _fam in _LOOKUP.items():
    _parts = _key.split(" ")
    if len(_parts) > 1:
        _two, _three = _PHRASES.setdefault(_parts[0], ({}, {}))
        if len(_parts) == 2:
            _two[_parts[1]] = _fam
        else:
            _three.setdefault(_parts[1], {})[_parts[2]] = _fam
# word -> (the families it belongs to on its own, the phrases it starts or None): one look-up
# per word, and none but a failed one for the many words that are neither
_WORD_INFO: dict[str, tuple[_Families, _Phrases | None]] = {
    w: (_LOOKUP.get(w, ()), _PHRASES.get(w)) for w in (*_LOOKUP, *_PHRASES) if " " not in w
}
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
CHAT_GROUPS: tuple[str, ...] = tuple(_GROUP_WORDS)
_CODE_PASTE = re.compile(
    r"```|^\s{2,}\S|[{};]\s*$|^\s*(def|class|import|from|public|private|#include|function|const|let|var)\b", re.M)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# the same for ASCII text, where \d is [0-9]; a character class lets the search skip ahead faster
_NUMBER_ASCII = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DIGITS = [bin_of(c) for c in "0123456789"]
_IMPERATIVE = re.compile(r"\s*(write|create|make|build|implement|generate|give|design|develop|code|compose|draft|"
                         r"plan|list|explain|describe|tell)\b", re.I)
_QUESTION = re.compile(r"\s*(what|who|when|where|which|why|how|is|are|can|could|do|does|did|should|would)\b", re.I)
_SYMBOL_BINS = [bin_of(c) for c in "=+*/^<>%√∑∫π"]
_QUESTION_MARK, _NEWLINE = bin_of("?"), bin_of("\n")
_PASTE_MARKS = [bin_of(c) for c in "`{};"]


def _code_pastes(t: str, chars: list[int]) -> int:
    """``len(_CODE_PASTE.findall(t))``. Without any of the characters ` { } ; only the line
    starts can start a match, so only those are tried: for prose a few dozen tries instead of
    the search trying all three alternatives at every character."""
    if chars[_NEWLINE] > 64 or any(chars[b] for b in _PASTE_MARKS):
        return len(_CODE_PASTE.findall(t))
    match = _CODE_PASTE.match  # "^" still sees the whole text: it matches after a newline only
    n = p = 0
    while True:
        m = match(t, p)
        if m is not None:
            n += 1
            p = m.end()
            if t[p - 1] == "\n":  # the match ends where a line starts
                continue
        nl = t.find("\n", p)
        if nl < 0:
            return n
        p = nl + 1

CHAT_NAMES: tuple[str, ...] = (
    *(n for g in CHAT_GROUPS for n in (g, g + "_any")),
    "log_chars", "log_chars_sq", "code_paste", "numbers", "questions", "lines", "imperative",
    "question_start", "upper", "symbols",
)
_N_GROUP = 2 * len(CHAT_GROUPS)
# task families that carry over from earlier turns ("now make it faster" after a coding question)
_TASK = tuple(i for g in ("code_ask", "code_lang", "puzzle", "proof", "maths", "stepwise", "expert", "constraint")
              for i in (2 * CHAT_GROUPS.index(g), 2 * CHAT_GROUPS.index(g) + 1))


def chat_features(text: str) -> np.ndarray:
    """The chat features of one message, in ``CHAT_NAMES`` order."""
    t = text if len(text) <= 6000 else text[:4000] + " " + text[-2000:]
    out = np.zeros(len(CHAT_NAMES))
    counts = [0] * len(CHAT_GROUPS)
    toks = _TOKEN.findall(t.lower())
    n_tok = len(toks)
    info = list(map(_WORD_INFO.get, toks))
    for i in compress(range(n_tok), info):  # the words that are in a family or start a phrase
        hit, phrases = cast("tuple[_Families, _Phrases | None]", info[i])  # compress skipped the Nones
        for k in hit:
            counts[k] += 1
        if phrases is not None and i + 1 < n_tok:  # phrases of two and three words
            two, three = phrases
            following = toks[i + 1]
            for k in two.get(following, ()):
                counts[k] += 1
            if i + 2 < n_tok:
                for k in three.get(following, {}).get(toks[i + 2], ()):
                    counts[k] += 1
    for k, c in enumerate(counts):
        out[2 * k] = math.log1p(c)
        out[2 * k + 1] = float(c > 0)
    n = len(text)
    j = _N_GROUP
    out[j] = math.log1p(n)
    out[j + 1] = (math.log1p(n) - 5.5) ** 2
    chars = char_counts(t)
    out[j + 2] = math.log1p(_code_pastes(t, chars))
    if not t.isascii():
        numbers = len(_NUMBER.findall(t))
    else:
        numbers = len(_NUMBER_ASCII.findall(t)) if any(map(chars.__getitem__, _DIGITS)) else 0
    out[j + 3] = math.log1p(numbers)
    out[j + 4] = math.log1p(chars[_QUESTION_MARK])
    out[j + 5] = math.log1p(chars[_NEWLINE] + 1)
    out[j + 6] = float(_IMPERATIVE.match(t) is not None)
    out[j + 7] = float(_QUESTION.match(t) is not None)
    size = max(1, len(t))
    out[j + 8] = chars[UPPER] / size
    out[j + 9] = 100.0 * sum(map(chars.__getitem__, _SYMBOL_BINS)) / size
    return out


def conversation_chat_features(last: str, earlier: Sequence[str]) -> np.ndarray:
    """The last user message's features; task families take the larger of their value and
    0.6 times their value over the earlier user turns."""
    out = chat_features(last)
    if earlier:
        hist = chat_features("\n".join(earlier))
        idx = list(_TASK)
        out[idx] = np.maximum(out[idx], 0.6 * hist[idx])
    return out
