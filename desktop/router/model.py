"""The shipped scoring model: load weights, score prompts, explain scores.

Score = sigmoid(bias + w_dense . standardised(dense) + w_hash . hashed + feedback shift), and for
free-form prompts (every chat message) also + w_chat . standardised(chat features): what the
request asks for (code, maths, puzzles, open-ended ideas, lookups, ...), learnt from real chat
prompts answered by 14 weaker models and GPT-4 (see ``chat_features``).
The weights live in ``resources/router/weights.npz`` with ``manifest.json`` beside them
(written by ``tools/train_router.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop.core.types import ChatMessage

from .chat_features import CHAT_GROUPS, CHAT_NAMES
from .features import DENSE_NAMES, HASH_DIM, N_BLOCKS, PromptFeatures, conversation_features, text_features
from .feedback import FeedbackModel, content_view

_NOPT = DENSE_NAMES.index("n_options")
_NNUM = DENSE_NAMES.index("number_count")
_MC_ONLY = np.array([n.startswith("options_") or n == "n_options" for n in DENSE_NAMES])

__all__ = ["Score", "Router", "RouterWeights", "load_router", "default_resource_dir", "PHRASES"]


def default_resource_dir() -> Path:
    from desktop.core.resources import resource_path

    return resource_path("router")


# feature name -> (phrase when it raises the score, phrase when it lowers it)
PHRASES: dict[str, tuple[str, str]] = {
    "log_chars": ("long prompt", "short prompt"),
    "log_words": ("long, multi-part question", "short question"),
    "log_lines": ("many lines", "few lines"),
    "mean_word_len": ("long, technical words", "plain, short words"),
    "long_word_share": ("technical vocabulary", "everyday vocabulary"),
    "digit_share": ("many numbers", "few numbers"),
    "number_count": ("maths with several quantities", "no numbers to work with"),
    "math_symbol_share": ("equations and maths symbols", "no equations"),
    "upper_share": ("acronyms and capitals", "few capitals"),
    "non_ascii_share": ("non-English or special characters", "plain English text"),
    "punct_share": ("dense punctuation", "little punctuation"),
    "capitalised_share": ("names and proper nouns", "few names"),
    "sentences": ("several sentences to follow", "a single sentence"),
    "question_marks": ("several questions", "no direct question"),
    "list_markers": ("a list of items", "no list"),
    "latex": ("LaTeX maths", "no LaTeX"),
    "code_block": ("code", "no code"),
    "code_chars": ("code-like syntax", "prose, not code"),
    "multi_statement": ("several statements to judge", "a single claim"),
    "except_question": ("a NOT/EXCEPT question", "a direct question"),
    "which_following": ("pick-one question", "open question"),
    "how_many": ("a how-many/how-much calculation", "no calculation asked"),
    "chat_words": ("conversational wording", "small talk"),
    "code_words": ("programming task", "not a programming task"),
    "constraint_words": ("explicit constraints", "few constraints"),
    "creative_words": ("a writing task", "open creative writing"),
    "extraction_words": ("extraction or reformatting", "simple extraction or reformatting"),
    "law_words": ("legal reasoning", "no legal detail"),
    "maths_words": ("maths", "little maths"),
    "medicine_words": ("medical detail", "no medical detail"),
    "morality_words": ("moral judgement", "no moral judgement"),
    "multistep_words": ("several steps to chain", "a single step"),
    "negation_words": ("negations to keep track of", "no tricky negation"),
    "reasoning_words": ("multi-step reasoning", "little reasoning asked"),
    "science_words": ("science detail", "no science detail"),
    "n_options": ("multiple-choice options", "free-form question"),
    "options_numeric": ("numeric answer options", "worded answer options"),
    "options_log_len": ("long answer options", "short answer options"),
    "options_words_share": ("answer options carry much of the text", "answer options are short"),
    "options_compound": ("compound answer options (several judgements)", "single-part answer options"),
    "options_similarity": ("answer options that look alike", "clearly different answer options"),
    "options_max_similarity": ("two near-identical answer options", "no two answer options alike"),
    "options_numeric_alike": ("near-identical numbers to tell apart", "numeric options far apart"),
    "people_words": ("a situation involving people to reason about", "no people or scenario involved"),
    "clauses": ("long sentences with many clauses", "simple sentences"),
    "history_turns": ("long conversation", "fresh conversation"),
    "history_log_chars": ("much earlier context", "little earlier context"),
    "_wording": ("wording like prompts the weak model got wrong", "wording like prompts the weak model handled"),
    "_feedback": ("your feedback on similar prompts", "your feedback on similar prompts"),
    # the chat part: (when the feature is present or above the typical chat prompt, when absent or
    # below); a family's count and flag are reported together, and the phrase follows the prompt's
    # state while the sign of the learnt weight decides whether it pushed towards strong or weak
    "chat:code_ask": ("asks for code to be written", "no code asked for"),
    "chat:code_lang": ("names a programming language or tool", "no programming language named"),
    "chat:puzzle": ("a puzzle or a hypothetical to reason through", "no puzzle or hypothetical"),
    "chat:proof": ("asks for a proof or derivation", "no proof asked for"),
    "chat:maths": ("a calculation or maths problem", "no calculation asked for"),
    "chat:stepwise": ("asks for reasoning or an explanation", "no explanation asked for"),
    "chat:creative": ("creative writing", "not creative writing"),
    "chat:ideas": ("an open list of ideas or suggestions", "not an open list of ideas"),
    "chat:advice": ("asks for advice or how-to", "not a request for advice"),
    "chat:lookup": ("a lookup or definition question", "not a lookup question"),
    "chat:rewrite": ("rewriting, summarising or translating", "no rewriting or translating"),
    "chat:constraint": ("explicit constraints to satisfy", "few constraints"),
    "chat:expert": ("specialist subject matter", "no specialist subject"),
    "chat:long_answer": ("asks for a long, complete answer", "no long answer asked for"),
    "chat:short_answer": ("asks for a short answer", "no short answer asked for"),
    "chat:persona": ("a role to play", "no role to play"),
    "chat:greeting": ("polite or conversational wording", "no small talk"),
    "chat:log_chars": ("long request", "short request"),
    "chat:log_chars_sq": ("a very short or very long request", "a request of typical length"),
    "chat:code_paste": ("pasted code", "no pasted code"),
    "chat:numbers": ("numbers to work with", "few numbers"),
    "chat:questions": ("several questions", "no direct question"),
    "chat:lines": ("many lines", "few lines"),
    "chat:imperative": ("starts with an instruction", "does not start with an instruction"),
    "chat:question_start": ("starts with a question", "does not start with a question"),
    "chat:upper": ("acronyms and capitals", "few capitals"),
    "chat:symbols": ("maths symbols", "no maths symbols"),
}
# chat feature index -> the name its contribution is reported under ("chat:<family>")
_CHAT_REPORT = tuple("chat:" + (n[:-4] if n.endswith("_any") else n) for n in CHAT_NAMES)
# the feature whose value says a family is present (its flag), or the feature itself
_CHAT_STATE = {("chat:" + n): i for i, n in enumerate(CHAT_NAMES)
               if n.endswith("_any") or n not in set(CHAT_GROUPS)}
_CHAT_STATE = {k[:-4] if k.endswith("_any") else k: i for k, i in _CHAT_STATE.items()}


@dataclass(frozen=True)
class Score:
    """``value`` is P(the weak model's answer is worse); ``reasons`` are the phrases of the
    features that pushed the score most (in the direction of the score relative to the
    reference median); ``raised`` and ``lowered`` the phrases of those that raised and lowered
    it most (a policy names the side its choice went: why strong, or why weak);
    ``contributions`` are (feature, logit contribution) pairs, largest first."""

    value: float
    reasons: tuple[str, ...]
    contributions: tuple[tuple[str, float], ...] = ()
    logit: float = 0.0
    raised: tuple[str, ...] = ()
    lowered: tuple[str, ...] = ()


@dataclass
class RouterWeights:
    """Weights per standardised feature unit, one set for multiple-choice prompts (``mc``,
    answer options present) and one for free-form prompts (``ff``, every chat prompt); the
    hashed n-gram weights apply to free-form prompts only."""

    mean: np.ndarray
    scale: np.ndarray
    w_mc: np.ndarray
    w_ff: np.ndarray
    bias_mc: float
    bias_ff: float
    w_hash: np.ndarray
    ref_quantiles: np.ndarray  # reference score distribution (probabilities), ascending
    char_mean: np.ndarray | None = None  # mean character 4-gram vector (feedback's centre)
    # the chat part (free-form prompts): standardisation and weights per CHAT_NAMES feature
    chat_mean: np.ndarray | None = None
    chat_scale: np.ndarray | None = None
    w_chat: np.ndarray | None = None
    chat_gate: float = 1.0  # the chat part's factor is 1 - chat_gate * (number gate)

    _FLOATS = ("mean", "scale", "w_mc", "w_ff", "ref_quantiles")
    _CHAT = ("chat_mean", "chat_scale", "w_chat")

    def save(self, path: Path) -> None:
        from .serialise import write_npz

        arrays = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in self._FLOATS}
        arrays["bias"] = np.array([self.bias_mc, self.bias_ff], dtype=np.float64)
        arrays["w_hash"] = np.asarray(self.w_hash, dtype=np.float32)
        arrays["dense_names"] = np.array(DENSE_NAMES)
        if self.char_mean is not None:
            arrays["char_mean"] = np.asarray(self.char_mean, dtype=np.float32)
        if self.w_chat is not None:
            for k in self._CHAT:
                arrays[k] = np.asarray(getattr(self, k), dtype=np.float64)
            arrays["chat_names"] = np.array(CHAT_NAMES)
            arrays["chat_gate"] = np.array([self.chat_gate], dtype=np.float64)
        write_npz(path, arrays)

    @classmethod
    def load(cls, path: Path) -> RouterWeights:
        with np.load(path, allow_pickle=False) as z:
            names = tuple(str(n) for n in z["dense_names"])
            if names != DENSE_NAMES:
                raise ValueError("router weights were trained for other features; retrain them")
            chat: dict[str, np.ndarray | None] = dict.fromkeys(cls._CHAT)
            gate_strength = 1.0
            if "w_chat" in z.files:
                if tuple(str(n) for n in z["chat_names"]) != CHAT_NAMES:
                    raise ValueError("router weights were trained for other chat features; retrain them")
                chat = {k: z[k] for k in cls._CHAT}
                gate_strength = float(z["chat_gate"][0])
            return cls(
                mean=z["mean"], scale=z["scale"], w_mc=z["w_mc"], w_ff=z["w_ff"],
                bias_mc=float(z["bias"][0]), bias_ff=float(z["bias"][1]),
                w_hash=z["w_hash"].astype(np.float64), ref_quantiles=z["ref_quantiles"],
                char_mean=(z["char_mean"].astype(np.float64) if "char_mean" in z.files else None),
                chat_mean=chat["chat_mean"], chat_scale=chat["chat_scale"], w_chat=chat["w_chat"],
                chat_gate=gate_strength,
            )


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Router:
    """Scores prompts. Thread-compatible for reading; ``feedback`` is mutated by ``learn``."""

    def __init__(self, weights: RouterWeights, manifest: dict[str, Any] | None = None,
                 feedback: FeedbackModel | None = None):
        if weights.w_mc.size != len(DENSE_NAMES) or weights.w_hash.size != HASH_DIM * N_BLOCKS:
            raise ValueError("router weights do not match this version's features; retrain")
        self.weights = weights
        self.manifest = manifest or {}
        self.feedback = feedback if feedback is not None else FeedbackModel()
        self.feedback.attach(weights.char_mean)
        # contribution per raw feature unit, and the constant once features are centred
        self._coef_mc = weights.w_mc / weights.scale
        self._coef_ff = weights.w_ff / weights.scale
        self._off_mc = weights.bias_mc - float(self._coef_mc @ weights.mean)
        self._off_ff = weights.bias_ff - float(self._coef_ff @ weights.mean)
        # the chat part per raw feature unit, and its constant once features are centred
        if weights.w_chat is not None and weights.chat_mean is not None and weights.chat_scale is not None:
            self._coef_chat: np.ndarray | None = weights.w_chat / weights.chat_scale
            self._off_chat = -float(self._coef_chat @ weights.chat_mean)
        else:
            self._coef_chat = None
        q = weights.ref_quantiles
        self._median_logit = _logit(float(np.interp(0.5, np.linspace(0, 1, q.size), q)))

    # --- scoring --------------------------------------------------------------------
    def _parts(self, f: PromptFeatures) -> tuple[np.ndarray, float, float, float]:
        """(per-feature coefficients used, dense logit incl. the chat part, hashed logit,
        feedback shift)."""
        if f.dense[_NOPT] == 0.0:
            coef = self._coef_ff
            dense = float(coef @ f.dense) + self._off_ff
            # gate 0 / 0.5 / 1 for 0 / 1 / 2+ numbers; the chat part steps back on prompts with
            # numbers, where the part learnt from maths word problems (GSM8K) applies
            gate = min(1.0, math.expm1(f.dense[_NNUM]) / 2.0)
            chat_factor = 1.0 - self.weights.chat_gate * gate
            if self._coef_chat is not None and f.chat.size and chat_factor > 0.0:
                dense += chat_factor * (float(self._coef_chat @ f.chat) + self._off_chat)
            # the n-gram block is learnt from maths word problems: applied to prompts with
            # numbers in them (the same gate); see tools/router_training/recipe.py
            hashed = gate * float(self.weights.w_hash[f.idx] @ f.val) if gate > 0 and f.idx.size else 0.0
        else:
            coef = self._coef_mc
            dense = float(coef @ f.dense) + self._off_mc
            hashed = 0.0
        fb = self.feedback.shift(content_view(f)) if self.feedback else 0.0
        return coef, dense, hashed, fb

    def _logit(self, f: PromptFeatures) -> tuple[float, float, float]:
        _, d, h, fb = self._parts(f)
        return d, h, fb

    def features(self, messages: Sequence[ChatMessage]) -> PromptFeatures:
        return conversation_features(messages)

    def score_features(self, f: PromptFeatures, explain: bool = True, top: int = 3) -> Score:
        coef, dense, hashed, fb = self._parts(f)
        z = dense + hashed + fb
        value = _sigmoid(z)
        if not explain:
            return Score(value, (), (), z)
        contrib = coef * (f.dense - self.weights.mean)
        if f.dense[_NOPT] == 0.0:
            contrib = np.where(_MC_ONLY, 0.0, contrib)  # constant for free-form prompts
        # read as Python floats (the same numbers): a loop over numpy scalars costs several times more
        pairs = [(n, c) for n, c in zip(DENSE_NAMES, contrib.tolist(), strict=True) if c != 0.0]
        w = self.weights
        if (f.dense[_NOPT] == 0.0 and self._coef_chat is not None and f.chat.size
                and w.chat_mean is not None):
            gate = min(1.0, math.expm1(f.dense[_NNUM]) / 2.0)
            chat_c = (1.0 - w.chat_gate * gate) * self._coef_chat * (f.chat - w.chat_mean)
            merged: dict[str, float] = {}
            for name, c in zip(_CHAT_REPORT, chat_c.tolist(), strict=True):
                merged[name] = merged.get(name, 0.0) + c
            pairs.extend((n, c) for n, c in merged.items() if c != 0.0)
            chat, chat_mean = f.chat.tolist(), w.chat_mean.tolist()
            high = {n: chat[i] > chat_mean[i] for n, i in _CHAT_STATE.items()}
        else:
            high = {}
        if hashed:
            pairs.append(("_wording", hashed))
        if fb:
            pairs.append(("_feedback", fb))
        pairs.sort(key=lambda p: (-abs(p[1]), p[0]))
        sides: dict[float, list[str]] = {1.0: [], -1.0: []}
        for name, c in pairs:
            if abs(c) < 0.02:
                continue
            side = sides[1.0 if c > 0 else -1.0]
            if len(side) >= top:
                continue
            state = high.get(name)
            up = state if state is not None else c > 0
            phrase = PHRASES.get(name, (name, name))[0 if up else 1]
            if phrase not in side:
                side.append(phrase)
        raised, lowered = tuple(sides[1.0]), tuple(sides[-1.0])
        reasons = raised if z >= self._median_logit else lowered
        return Score(value, reasons, tuple(pairs), z, raised, lowered)

    def score(self, messages: Sequence[ChatMessage]) -> Score:
        return self.score_features(conversation_features(messages))

    def score_text(self, text: str) -> Score:
        return self.score_features(text_features(text))

    def score_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty(len(texts))
        for i, t in enumerate(texts):
            d, h, fb = self._logit(text_features(t))
            out[i] = _sigmoid(d + h + fb)
        return out

    # --- feedback -------------------------------------------------------------------
    def learn(self, messages: Sequence[ChatMessage], weak_was_worse: bool) -> None:
        """Record feedback: ``True`` for a thumbs-down on a weak answer or 'retry with the
        strong model', ``False`` for a thumbs-up on a weak answer."""
        f = conversation_features(messages)
        d, h, fb = self._logit(f)
        self.feedback.update(content_view(f), _sigmoid(d + h + fb),
                             1.0 if weak_was_worse else 0.0)

    @property
    def reference_scores(self) -> np.ndarray:
        return self.weights.ref_quantiles


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


#: files read ahead by ``preload_router_files``, each taken by the next ``load_router``
_preloaded: dict[Path, tuple[RouterWeights, dict[str, Any]]] = {}


def _read_router_files(folder: Path) -> tuple[RouterWeights, dict[str, Any]]:
    weights = RouterWeights.load(folder / "weights.npz")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    return weights, manifest


def preload_router_files(path: str | Path | None = None) -> None:
    """Read the weights and manifest ahead of ``load_router``, in a worker thread, so the
    window's thread does not spend 20-40 ms unpacking the weights. Also imports what the
    first decision touches (``np.unique`` loads ``numpy.ma``, another 40 ms). Raises what
    reading raises; ``load_router`` then reads the files itself."""
    import numpy.ma  # noqa: F401

    folder = Path(path) if path is not None else default_resource_dir()
    _preloaded[folder] = _read_router_files(folder)


def load_router(path: str | Path | None = None, feedback: FeedbackModel | None = None) -> Router:
    """Load the shipped router from ``path`` (a folder with weights.npz and manifest.json;
    default ``resources/router/``)."""
    folder = Path(path) if path is not None else default_resource_dir()
    ahead = _preloaded.pop(folder, None)
    weights, manifest = ahead if ahead is not None else _read_router_files(folder)
    return Router(weights, manifest, feedback)
