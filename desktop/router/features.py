"""Prompt features for the router, computed with numpy and the standard library only.

A prompt becomes two things:

* a short vector of hand-made, interpretable features (``DENSE_NAMES``): task type (maths,
  code, multi-step reasoning, extraction, law/medicine/science vocabulary), constraints,
  length, structure (lines, lists, several statements to judge), language (non-ASCII share);
* hashed sparse n-grams: lower-cased word unigrams and bigrams (numbers folded to ``0``) and
  character 4-grams, each block L2-normalised, hashed into ``HASH_DIM`` buckets per block with a
  fixed, process-independent hash (CRC32 for words, a numpy polynomial hash for characters).

Multiple-choice formatting (``A. ...`` option lines and a trailing ``Answer:``) is stripped
before anything is computed, so the benchmark's option layout is not itself a signal; the
options' text is kept as part of the prompt, because it is content (numbers, formulas, words).

Multi-turn conversations (see :func:`conversation_features`): the last user message is the
prompt; earlier user turns are added to the n-gram blocks at half weight (a quarter for turns
further back), task-type indicators take the larger of the last message's value and 0.6 times
the value over the earlier user turns (so "now make it faster" after a coding question still
counts as code), and two conversation features record the number of earlier user turns and the
length of the history. Assistant turns and system prompts are not read, except that a system
prompt's constraints count at half weight.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from desktop.core.types import ChatMessage

from .charcount import COUNTED, bin_of, char_counts
from .chat_features import chat_features, conversation_chat_features
from .vocabulary import Vocabulary

__all__ = [
    "DENSE_NAMES",
    "HASH_BITS",
    "HASH_DIM",
    "N_BLOCKS",
    "MAX_CHARS",
    "PromptFeatures",
    "strip_choices",
    "text_features",
    "conversation_features",
    "TASK_FEATURES",
]

HASH_BITS = 17
HASH_DIM = 1 << HASH_BITS
N_BLOCKS = 2  # words (uni+bigrams), characters (4-grams)
MAX_CHARS = 6000  # n-grams read the first 4,000 and the last 2,000 characters of long prompts
_MASK = HASH_DIM - 1

# --- multiple-choice formatting -------------------------------------------------------

_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s?(.*)$")
_ANSWER_TAIL = re.compile(r"\n\s*Answer:\s*$")


def strip_choices(text: str) -> tuple[str, list[str]]:
    """Split a prompt into its stem and its answer options (``A. ...`` lines, at least 2 in a
    row starting at ``A``), dropping a trailing ``Answer:``. Free-form prompts come back whole."""
    body = _ANSWER_TAIL.sub("", text)
    lines = body.split("\n")
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    i = end - 1
    found: list[tuple[str, str]] = []
    while i >= 0:
        m = _OPTION_LINE.match(lines[i])
        if not m:
            break
        found.append((m.group(1), m.group(2)))
        i -= 1
    found.reverse()
    # keep the run that starts at the last "A" and goes on letter by letter
    for start in range(len(found) - 1, -1, -1):
        if found[start][0] == "A":
            run = found[start:]
            if len(run) >= 2 and all(
                ord(b[0]) - ord(a[0]) == 1 for a, b in zip(run, run[1:], strict=False)
            ):
                cut = i + 1 + start
                return "\n".join(lines[:cut]).rstrip(), [t for _, t in run]
            break
    return body, []


_ALNUM = re.compile(r"[a-z0-9]+")


def _char_trigrams(text: str) -> frozenset[str]:
    norm = " " + " ".join(_ALNUM.findall(text[:2000].lower())) + " "
    return frozenset(norm[i : i + 3] for i in range(len(norm) - 2))


def options_confusability(options: Sequence[str]) -> tuple[float, float]:
    """How alike the answer options look: the mean and the largest character-trigram Jaccard
    similarity over pairs of options. Worded options that differ in a detail ("Wrong, Not wrong"
    beside "Not wrong, Wrong") must be told apart by knowledge or careful reading rather than
    recognition, which is where the weak model falls behind; unlike topic words this transfers to
    subjects the benchmark never showed (grouped-by-domain CV). Near-identical *numeric* options
    ("2.5 mol", "2.05 mol") are the opposite case, exact calculation where both models tend to
    fail, hence the separate options_numeric_alike feature."""
    grams = [_char_trigrams(o) for o in options[:10]]
    sims = [
        len(a & b) / len(a | b) if (a or b) else 1.0
        for i, a in enumerate(grams)
        for b in grams[i + 1 :]
    ]
    if not sims:
        return 0.0, 0.0
    return sum(sims) / len(sims), max(sims)


# --- word lists (all lower case) --------------------------------------------------------

_WORDS: dict[str, Iterable[str]] = {
    "maths_words": """calculate compute solve equation equations integer integers sum product
        probability derivative integral matrix polynomial prime divisible remainder ratio percent
        percentage average mean median fraction fractions sqrt root roots function functions
        theorem prove proof lemma modulo mod factor factors digits digit multiply divide
        divided times plus minus square cube exponent logarithm log vector vectors eigenvalue
        determinant limit series sequence geometric arithmetic triangle circle angle radius
        area volume perimeter field ring group subgroup homomorphism isomorphism order""",
    "multistep_words": """then after before each every total remaining left altogether
        twice half more less than per how many much later first second third finally step
        steps if when until respectively combined difference""",
    "reasoning_words": """why explain because therefore implies imply infer inference
        conclude conclusion argument assumption valid validity logically logic reasoning
        analyze analyse evaluate compare contrast justify strongest weakest best most least
        likely unlikely consistent inconsistent paradox""",
    "code_words": """code function python javascript java c++ rust sql query class method
        compile compiler bug debug error exception stack array list dict loop recursion
        algorithm complexity runtime variable pointer api regex json html css script program
        programming implement implementation return returns procedure iteration""",
    "extraction_words": """extract list summarize summarise summary classify translate
        rewrite paraphrase format table bullet bullets tag label keywords convert""",
    "constraint_words": """must exactly only without never always at least most no
        words sentences characters limit format bullet json yaml markdown style tone""",
    "negation_words": """not except never none neither nor false incorrect least""",
    "law_words": """law legal court plaintiff defendant statute constitutional
        constitution contract liable liability tort negligence jurisdiction judge jury
        appeal evidence hearsay testimony prosecution prosecutor convicted conviction
        amendment federal sue sued damages breach claim trial attorney property""",
    "medicine_words": """patient patients diagnosis symptoms treatment disease clinical
        physician mg dose syndrome infection chronic acute blood cells cell gene genes
        protein mutation therapy examination""",
    "science_words": """energy force mass velocity acceleration electron electrons atom
        atoms molecule molecules reaction charge current voltage resistance temperature
        pressure wave frequency magnetic particle quantum orbit gravity circuit""",
    "morality_words": """moral morally wrong right ethical ethics unethical should ought
        scenario scenarios character""",
    "chat_words": """hi hello hey thanks thank joke jokes fun favorite favourite chat
        bored lol haha cheers""",
    "people_words": """he she his her him hers i me my mine we our they their them you
        your man woman person someone""",
    "creative_words": """write story poem essay letter email blog song creative
        imagine describe character characters dialogue""",
}
_WORD_FEATURE: dict[str, list[str]] = {}
for _name, _ws in _WORDS.items():
    for _w in str(_ws).split():
        _WORD_FEATURE.setdefault(_w, []).append(_name)

_MATH_SYMBOLS = "=+*/^<>%√∑∫π∞≤≥≠±×÷∈∀∃"
_CODE_CHARS = "{}[];()_<>#"
_MATH_BINS = [bin_of(c) for c in _MATH_SYMBOLS]
_CODE_BINS = [bin_of(c) for c in _CODE_CHARS]

# The text is read as tokens: lower-case words, numbers, and every other non-space character on
# its own (``[a-z][a-z'+]*|\d+(?:[.,]\d+)*|\S``). Only the words and numbers (the tokens that
# start with a letter or digit) are kept, so the expression skips the one-character tokens
# that are not letters or digits, and they are counted from the characters instead: the
# same matches, in a third less time.
_WORD = re.compile(r"[a-z][a-z'+]*|\d+(?:[.,]\d+)*|[^\W_]")
# the same for lower-cased ASCII text: \d is [0-9] there, and every letter or digit is taken by
# the first two alternatives; character classes let the search skip ahead faster
_WORD_ASCII = re.compile(r"[a-z][a-z'+]*|[0-9]+(?:[.,][0-9]+)*")

# substring counts (cheaper than regular expressions; text lower-cased unless noted)
_COUNTS_LOW: dict[str, tuple[str, ...]] = {
    "multi_statement": (
        "statement 1", "statement i ", "scenario 1", "\ni.", "\nii.", "\niii.", " ii.", " iii.",
        "(i)", "(ii)", "(iii)", " ii)", " iii)", "\n1.", "\n2.", "\n3.",
    ),
    "latex": ("$", "\\frac", "\\sqrt", "\\cdot", "\\times", "\\le", "\\pi", "\\sum", "\\int", "\\math"),
    "code_block": (
        "```", "def ", "function", "return ", "#include", "import ", "=>", ";\n", "()", "){",
        "){\n", "print(", "console.", "self.", "</", "//", "==", "!=", "+=",
    ),
    "which_following": ("which of the following", "which one of the following"),
    "how_many": ("how many", "how much", "how long", "how far", "how old"),
    "question_marks": ("?",),
}
_COUNTS_CASED: dict[str, tuple[str, ...]] = {
    "except_question": ("EXCEPT", " NOT ", "LEAST", "FALSE"),
}


def _gated(subs: Iterable[str]) -> tuple[tuple[str, frozenset[int]], ...]:
    """Each substring beside the bins (``charcount``) of its characters that are counted: when
    one of them is absent from a text, so is the substring, and it is not searched for."""
    return tuple((x, frozenset(bin_of(c) for c in x if c in COUNTED)) for x in subs)


_COUNT_PLAN = tuple((name, _gated(subs)) for name, subs in _COUNTS_LOW.items())
_SENTENCE_ENDS = _gated((". ", ".\n", "? ", "! "))
_DIGIT_TO_ZERO = str.maketrans("123456789", "000000000")
_LIST_MARKERS = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s", re.M)

DENSE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "mean_word_len",
    "long_word_share",
    "digit_share",
    "number_count",
    "math_symbol_share",
    "upper_share",
    "non_ascii_share",
    "punct_share",
    "capitalised_share",
    "sentences",
    "question_marks",
    "list_markers",
    "latex",
    "code_block",
    "code_chars",
    "multi_statement",
    "except_question",
    "which_following",
    "how_many",
    *sorted(_WORDS),
    "clauses",
    "n_options",
    "options_numeric",
    "options_compound",
    "options_log_len",
    "options_words_share",
    "options_similarity",
    "options_max_similarity",
    "options_numeric_alike",
    "history_turns",
    "history_log_chars",
)
_INDEX = {name: i for i, name in enumerate(DENSE_NAMES)}

# features that describe the task type and carry over from earlier turns of a conversation
TASK_FEATURES: tuple[str, ...] = (
    "digit_share",
    "number_count",
    "math_symbol_share",
    "latex",
    "code_block",
    "code_chars",
    "multi_statement",
    "maths_words",
    "multistep_words",
    "reasoning_words",
    "code_words",
    "law_words",
    "medicine_words",
    "science_words",
    "morality_words",
)
_TASK_IDX = np.array([_INDEX[n] for n in TASK_FEATURES])
_CONSTRAINT_IDX = _INDEX["constraint_words"]


@dataclass
class PromptFeatures:
    dense: np.ndarray  # float64 (len(DENSE_NAMES),)
    idx: np.ndarray  # int64 hashed bucket indices (block offset included), unique
    val: np.ndarray  # float64 values for idx
    chat: np.ndarray = field(default_factory=lambda: np.zeros(0))  # chat_features.CHAT_NAMES


# --- hashing ---------------------------------------------------------------------------

_P = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(64 - HASH_BITS)


def _mix(h: np.ndarray) -> np.ndarray:
    # in place after the first product (a new array): a third fewer arrays to allocate
    with np.errstate(over="ignore"):
        h = h * _MIX
        h ^= h >> np.uint64(29)
        h *= _MIX
    h >>= _SHIFT
    return h.view(np.int64)  # below 2**HASH_BITS, so the same numbers


def _char_hashes(text: str, n: int = 4) -> np.ndarray:
    """Hash every character n-gram of ``text`` (already normalised) into [0, HASH_DIM)."""
    # h = (...((c0 + 1) * P + c1 + 1) * P ...) + c(n-1) + 1 modulo 2**64, each code point's + 1
    # added once up front and the products taken in place
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    m = cps.size - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    cps += np.uint64(1)
    h = cps[:m].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            h *= _P
            h += cps[k : k + m]
    return _mix(h)


# What is read from each word (see ``vocabulary``), as a row: its id, its length if it starts with
# a letter (else 0), then bins to count it in: "starts with a letter", "and has 9 letters or
# more", and the dense index of each word list it is on, padded with "none".
_FAMILY_SLOTS = sorted(_INDEX[f] for f in _WORDS)
_B_NONE, _B_ALPHA, _B_LONG = len(DENSE_NAMES), len(DENSE_NAMES) + 1, len(DENSE_NAMES) + 2
_N_BINS = len(DENSE_NAMES) + 3
_WIDTH = 4 + max(len(fs) for fs in _WORD_FEATURE.values())


def _describe(word: str) -> tuple[int, ...]:
    """A word's row; its id is a stable 32-bit CRC32 of the word, numbers folded to "0"."""
    key = "0" if word[0].isdigit() else word
    row = [zlib.crc32(key.encode("utf-8", "surrogatepass"))]
    if word[0].isalpha():
        row += [len(word), _B_ALPHA, _B_LONG if len(word) >= 9 else _B_NONE]
        row += [_INDEX[f] for f in _WORD_FEATURE.get(word, ())]
    else:
        row += [0]
    return (*row, *([_B_NONE] * (_WIDTH - len(row))))


_VOCABULARY = Vocabulary(_describe, _WIDTH)


def _clip_long(text: str) -> str:
    if len(text) > MAX_CHARS:
        return text[:4000] + " " + text[-2000:]
    return text


# --- one text ----------------------------------------------------------------------------


# (block, hashed ids, weight): one text's n-grams before they are merged and normalised
_Part = tuple[int, np.ndarray, float]


class _Parsed:
    __slots__ = ("dense", "word_ids", "spaced")

    def __init__(self, dense: np.ndarray, word_ids: np.ndarray, spaced: str):
        self.dense = dense
        self.word_ids = word_ids  # uint64, one per word or number, in order
        self.spaced = spaced  # lower-cased, each run of whitespace one space


def _parse(text: str) -> _Parsed:
    stem, options = strip_choices(text)
    d = np.zeros(len(DENSE_NAMES))
    full = stem if not options else stem + "\n" + "\n".join(options)
    n_chars = len(full)
    clipped = _clip_long(full)
    low = clipped.lower()
    words = (_WORD_ASCII if low.isascii() else _WORD).findall(low)
    rows = _VOCABULARY.rows(words)
    in_bin = np.bincount(rows[:, 2:].ravel(), minlength=_N_BINS).tolist()
    n_words = in_bin[_B_ALPHA]  # the words that start with a letter
    chunks = low.split()
    spaced = " ".join(chunks)
    chars = char_counts(low)
    word_chars = "".join(words)
    # each non-space character outside the words is a token of its own
    punct = len(spaced) - max(len(chunks) - 1, 0) - len(word_chars)
    d[_INDEX["log_chars"]] = math.log1p(n_chars)
    d[_INDEX["log_words"]] = math.log1p(n_words)
    d[_INDEX["log_lines"]] = math.log1p(stem.count("\n"))
    if n_words:
        d[_INDEX["mean_word_len"]] = min(int(rows[:, 1].sum()) / n_words, 15.0) / 5.0
        d[_INDEX["long_word_share"]] = in_bin[_B_LONG] / n_words
    n_tok = max(len(words) + punct, 1)
    numbers = len(words) - n_words
    # "+" is the one maths symbol that can be part of a word ("c++")
    math_sym = sum(map(chars.__getitem__, _MATH_BINS)) - word_chars.count("+")
    code_ch = sum(map(chars.__getitem__, _CODE_BINS))
    d[_INDEX["number_count"]] = math.log1p(numbers)
    d[_INDEX["math_symbol_share"]] = 10.0 * math_sym / n_tok
    d[_INDEX["code_chars"]] = 10.0 * code_ch / n_tok
    d[_INDEX["punct_share"]] = 5.0 * punct / n_tok
    if clipped:
        cps = np.frombuffer(clipped.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        nc = cps.size
        is_up = (cps >= 65) & (cps <= 90)
        is_lo = (cps >= 97) & (cps <= 122)
        digits = np.count_nonzero((cps >= 48) & (cps <= 57))
        d[_INDEX["digit_share"]] = 10.0 * digits / nc
        d[_INDEX["upper_share"]] = 10.0 * np.count_nonzero(is_up) / nc
        d[_INDEX["non_ascii_share"]] = np.count_nonzero(cps > 127) / nc
        if nc > 2:
            space = (cps[:-2] == 32) | (cps[:-2] == 10)
            starts = np.count_nonzero(is_up[1:-1] & is_lo[2:] & space)
            d[_INDEX["capitalised_share"]] = 5.0 * starts / max(n_words, 1)
    absent = {b for b, c in enumerate(chars) if not c}
    d[_INDEX["sentences"]] = math.log1p(
        sum(low.count(x) for x, need in _SENTENCE_ENDS if absent.isdisjoint(need))
    )
    for name, plan in _COUNT_PLAN:
        d[_INDEX[name]] = math.log1p(sum(low.count(x) for x, need in plan if absent.isdisjoint(need)))
    for name, subs in _COUNTS_CASED.items():
        d[_INDEX[name]] = math.log1p(sum(clipped.count(x) for x in subs))
    d[_INDEX["list_markers"]] = math.log1p(len(_LIST_MARKERS.findall(clipped)))
    d[_INDEX["clauses"]] = math.log1p(stem.count(",") + stem.count(";"))
    if n_words:
        scale = 3.0 / math.log1p(n_words + 1)
        for i in _FAMILY_SLOTS:
            if in_bin[i]:
                d[i] = math.log1p(in_bin[i]) * scale
    if options:
        d[_INDEX["n_options"]] = 1.0
        numeric = 0
        for o in options:
            o = o.strip()
            if o and sum(ch.isdigit() or ch in "$\\^/=+-." for ch in o) >= max(1, len(o) // 3):
                numeric += 1
        d[_INDEX["options_numeric"]] = numeric / len(options)
        mean_len = sum(len(o) for o in options) / len(options)
        d[_INDEX["options_log_len"]] = math.log1p(mean_len)
        d[_INDEX["options_words_share"]] = sum(len(o) for o in options) / max(n_chars, 1)
        d[_INDEX["options_compound"]] = sum(o.count(",") for o in options) / len(options)
        mean_sim, max_sim = options_confusability(options)
        d[_INDEX["options_similarity"]] = mean_sim
        d[_INDEX["options_max_similarity"]] = max_sim
        # near-identical numeric options: exact calculation, where both models tend to fail
        d[_INDEX["options_numeric_alike"]] = max_sim * d[_INDEX["options_numeric"]]
    return _Parsed(d, rows[:, 0].astype(np.uint64), spaced)


def _hash_into(p: _Parsed, weight: float, parts: list[_Part]) -> None:
    ids = p.word_ids
    if ids.size:
        uni = _mix(ids)
        if ids.size > 1:
            with np.errstate(over="ignore"):
                bi = _mix(ids[:-1] * _P + ids[1:] + np.uint64(0x5BD1E995))
            w_idx = np.concatenate([uni, bi])
        else:
            w_idx = uni
        parts.append((0, w_idx, weight))
    norm = " " + p.spaced.translate(_DIGIT_TO_ZERO) + " "
    parts.append((1, _char_hashes(norm), weight))


def _unique_counts(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(h, return_counts=True)`` for a non-empty 1-d array, without its checks and
    dispatch, which cost as much as the sort at a few thousand n-grams."""
    s = np.sort(h)
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty(starts.size, dtype=np.intp)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1] = s.size - starts[-1]
    return s[first], counts


def _finish(parts: list[_Part]) -> tuple[np.ndarray, np.ndarray]:
    out_i = []
    out_v = []
    for block in range(N_BLOCKS):
        mine = [(h, w) for b, h, w in parts if b == block and h.size]
        if not mine:
            continue
        if len(mine) == 1 and mine[0][1] == 1.0:
            u, c = _unique_counts(mine[0][0])
            v = np.log1p(c.astype(np.float64))
        else:
            allh = np.concatenate([h for h, _ in mine])
            allw = np.concatenate([np.full(h.size, w) for h, w in mine])
            u, inv = np.unique(allh, return_inverse=True)
            v = np.log1p(np.bincount(inv, weights=allw))
        v /= math.sqrt(float(np.dot(v, v)))
        out_i.append(u + block * HASH_DIM)
        out_v.append(v)
    if not out_i:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(out_i), np.concatenate(out_v)


def text_features(text: str) -> PromptFeatures:
    """Features of a single prompt (one user message, no history)."""
    p = _parse(text)
    parts: list[_Part] = []
    _hash_into(p, 1.0, parts)
    idx, val = _finish(parts)
    return PromptFeatures(p.dense, idx, val, chat_features(text))


def conversation_features(messages: Sequence[ChatMessage]) -> PromptFeatures:
    """Features of a conversation; see the module docstring for how history is used."""
    users = [m.content for m in messages if m.role == "user"]
    systems = [m.content for m in messages if m.role == "system"]
    if not users:
        users = [messages[-1].content] if messages else [""]
    earlier = users[:-1]
    if not earlier and not systems:
        return text_features(users[-1])
    p = _parse(users[-1])
    dense = p.dense
    parts: list[_Part] = []
    _hash_into(p, 1.0, parts)
    if earlier:
        hist = "\n".join(earlier)
        hp = _parse(_clip_long(hist))
        dense[_TASK_IDX] = np.maximum(dense[_TASK_IDX], 0.6 * hp.dense[_TASK_IDX])
        for back, prev in enumerate(reversed(earlier[-4:])):
            _hash_into(_parse(prev), 0.5 if back == 0 else 0.25, parts)
        dense[_INDEX["history_turns"]] = math.log1p(len(earlier))
        dense[_INDEX["history_log_chars"]] = math.log1p(len(hist))
    if systems:
        sp = _parse("\n".join(systems))
        dense[_CONSTRAINT_IDX] = max(dense[_CONSTRAINT_IDX], 0.5 * sp.dense[_CONSTRAINT_IDX])
    idx, val = _finish(parts)
    return PromptFeatures(dense, idx, val, conversation_chat_features(users[-1], earlier))
