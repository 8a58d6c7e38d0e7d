"""Full-text search: FTS5 kept in sync by triggers, safe with any user input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desktop.core.types import ModelRef, RouteDecision
from desktop.storage import Store, fts_query

ROUTE = RouteDecision("weak", 0.2, 0.5, "r", "p")
WEAK = ModelRef("ollama", "llama3.2")


@pytest.fixture
def filled(store: Store):
    a = store.create_conversation("Cooking")
    store.add_user_message(a, "How long should I boil an egg?")
    mid = store.start_answer(a, route=ROUTE, model=WEAK)
    store.finish_answer(mid, text="Boil the egg for about nine minutes.", status="complete")
    b = store.create_conversation("Code")
    store.add_user_message(b, 'Explain c++ templates and the "foo" idiom')
    store.add_user_message(b, "Café crème brûlée, naïve résumé")
    return store, a, b, mid


def test_finds_and_highlights(filled):
    store, a, _, mid = filled
    hits = store.search("egg")
    assert {h.conversation_id for h in hits} == {a}
    assert len(hits) == 2
    answer = next(h for h in hits if h.message_id == mid)
    assert answer.role == "assistant" and answer.conversation_title == "Cooking"
    assert "«egg»" in answer.snippet
    assert "<b>egg</b>" in answer.snippet_html


def test_prefix_and_multiword(filled):
    store, *_ = filled
    assert len(store.search("templ")) == 1  # search as you type
    assert len(store.search("boil minutes")) == 1  # words are ANDed
    assert store.search("boil zebra") == []


def test_diacritics_fold(filled):
    store, *_ = filled
    assert len(store.search("cafe creme")) == 1
    assert len(store.search("résumé")) == 1


@pytest.mark.parametrize(
    "query",
    ['c++ "foo', '"', '""', "'", "*", "AND", "OR NOT", "egg OR", "(", ")", "egg)", "NEAR(a b)",
     "col:egg", "^egg", "-egg", "a AND (", "{x}", "egg*", "\\", "%_", "   ", "", "\x00", "🥚", "++"],
)
def test_user_input_never_raises(filled, query):
    store, *_ = filled
    hits = store.search(query)
    assert isinstance(hits, list)


def test_special_characters_still_match(filled):
    store, *_ = filled
    assert len(store.search('c++ "foo')) == 1
    assert len(store.search("AND")) == 1  # a keyword becomes a plain word ("and" is in the text)
    assert store.search("   ") == []


def test_html_in_text_is_escaped_in_snippet_html(store: Store):
    conv = store.create_conversation("x")
    store.add_user_message(conv, "<script>alert(1)</script> needle")
    (hit,) = store.search("needle")
    assert "<script>" not in hit.snippet_html and "&lt;script&gt;" in hit.snippet_html
    assert "<script>" in hit.snippet


def test_rename_delete_restore_purge(filled):
    store, a, b, _ = filled
    store.rename_conversation(a, "Kitchen")
    assert {h.conversation_title for h in store.search("egg")} == {"Kitchen"}
    store.delete_conversation(a)
    assert store.search("egg") == []
    store.restore_conversation(a)
    assert len(store.search("egg")) == 2
    store.delete_conversation(a)
    store.purge_deleted()
    assert store.search("egg") == []
    assert store.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    assert len(store.search("templates")) == 1


def test_streaming_rows_enter_the_index_when_they_finish(store: Store):
    conv = store.create_conversation("c")
    mid = store.start_answer(conv, route=ROUTE, model=WEAK)
    for i in range(1, 50):
        store.save_partial(mid, "walrus " * i)
    assert store.search("walrus") == []  # partials don't touch the index
    store.finish_answer(mid, text="the walrus is done", status="stopped")
    assert [h.message_id for h in store.search("walrus")] == [mid]
    assert store.search("done")
    # a finished row whose text changes is reindexed (old words gone)
    store.conn.execute("UPDATE messages SET text = 'penguin' WHERE id = ?", (mid,))
    assert store.search("walrus") == [] and len(store.search("penguin")) == 1
    store.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


def test_fts_query_quotes_everything():
    assert fts_query('c++ "foo') == '"c++" """foo"*'
    assert fts_query("++ --") == ""
    assert fts_query("NEAR(x") == '"NEAR(x"*'


def test_index_matches_the_table_after_random_operations(store: Store):
    """Random mixes of every write path keep the index equal to a naive scan."""
    import random

    rng = random.Random(1234)
    words = ["alpha", "beta", "gamma", "delta", "c++", "émile", "x"]
    convs = [store.create_conversation(f"c{i}") for i in range(3)]
    streaming: list[int] = []
    for _ in range(400):
        op = rng.random()
        conv = rng.choice(convs)
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 5)))
        if op < 0.25:
            store.add_user_message(conv, text)
        elif op < 0.4:
            streaming.append(store.start_answer(conv, route=ROUTE, model=WEAK))
        elif op < 0.6 and streaming:
            store.save_partial(rng.choice(streaming), text)
        elif op < 0.75 and streaming:
            mid = streaming.pop(rng.randrange(len(streaming)))
            store.finish_answer(mid, text=text, status=rng.choice(["complete", "stopped", "interrupted", "error"]))
        elif op < 0.8:
            store.delete_conversation(conv)
        elif op < 0.85:
            store.restore_conversation(conv)
        elif op < 0.87:
            store.purge_deleted()
            convs = [c.id for c in store.list_conversations(include_deleted=True)] or [store.create_conversation("n")]
            alive = {m.id for c in convs for m in store.messages(c)}
            streaming = [m for m in streaming if m in alive]
    store.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    for mid in streaming:  # unindexed while streaming; once all are final, the index must
        store.finish_answer(mid, text="x", status="stopped")  # match the table exactly
    store.conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
    visible = {c.id for c in store.list_conversations()}
    for word in ["alpha", "gamma", "emile", "x"]:
        expected = {
            m.id
            for c in visible
            for m in store.messages(c)
            if m.status != "streaming" and word in m.text.replace("é", "e").split()
        }
        assert {h.message_id for h in store.search(word, limit=10_000)} == expected
        assert {h.message_id for h in store.search(f'"{word}"', limit=10_000)} == expected


def test_any_text_is_a_valid_query(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    with Store(tmp_path / "h.sqlite3") as s:
        conv = s.create_conversation("c")
        s.add_user_message(conv, 'c++ "quoted" NEAR AND OR NOT * ^ : () {} émile 🥚')

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.text(alphabet=st.sampled_from(list('ab c+"*^:(){}-\'éNEARANDORNOT🥚\\\t\n%_.,')) | st.characters(),
                       max_size=40))
        def check(query: str) -> None:
            assert isinstance(s.search(query), list)

        check()


# --- what a page of results shows -------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(tmp_path):
    clock = _Clock()
    with Store(tmp_path / "clocked.sqlite3", now=clock) as s:
        yield s, clock


def test_a_common_word_shows_the_newest_matches_first(clocked):
    """120 messages say "python"; the page holds the 50 most recent, newest first, each
    with its conversation, a highlighted snippet and its date. The oldest ones say it
    most often in the fewest words, so a ranking by term frequency (bm25) over every
    match would have put them on top instead."""
    store, clock = clocked
    convs = [store.create_conversation(f"Project {i}") for i in range(4)]
    expected = []
    for i in range(120):
        clock.now += timedelta(minutes=1)
        text = "python python python" if i < 70 else f"notes {i}: we used python for the parser and the tests"
        mid = store.add_user_message(convs[i % 4], text)
        expected.append((mid, convs[i % 4], clock.now))
    hits = store.search("python")
    assert len(hits) == 50
    newest = expected[::-1][:50]
    assert [(h.message_id, h.conversation_id, h.created_at) for h in hits] == newest
    assert all(h.conversation_title == f"Project {convs.index(h.conversation_id)}" for h in hits)
    assert all("«python»" in h.snippet and "<b>python</b>" in h.snippet_html for h in hits)
    assert "notes 119" in hits[0].snippet
    assert [h.message_id for h in store.search("python", limit=5)] == [m for m, _, _ in newest[:5]]


def test_a_rare_word_finds_every_match_wherever_it_is(clocked):
    store, clock = clocked
    conv = store.create_conversation("Trip")
    ids = []
    for i in range(300):
        clock.now += timedelta(minutes=1)
        mid = store.add_user_message(conv, f"day {i} walking" + (" past the lighthouse" if i % 100 == 7 else ""))
        if i % 100 == 7:
            ids.append(mid)
    hits = store.search("lighthouse")
    assert [h.message_id for h in hits] == ids[::-1]
    assert [h.snippet for h in hits] == [f"day {i} walking past the «lighthouse»" for i in (207, 107, 7)]


def test_words_side_by_side_come_before_words_apart(clocked):
    store, clock = clocked
    conv = store.create_conversation("ML")
    clock.now += timedelta(minutes=1)
    together = store.add_user_message(conv, "what is gradient descent")
    apart = []
    for i in range(3):
        clock.now += timedelta(minutes=1)
        apart.append(store.add_user_message(conv, f"the descent was steep; gradient {i} percent"))
    hits = store.search("gradient descent")
    assert [h.message_id for h in hits] == [together, *apart[::-1]]
    assert [h.rank for h in hits] == [0.0, 1.0, 1.0, 1.0]
    assert "«gradient» «descent»" in hits[0].snippet


def test_the_last_word_is_completed_when_the_words_as_typed_find_nothing(clocked):
    store, clock = clocked
    conv = store.create_conversation("Biology")
    first = store.add_user_message(conv, "Explain photosynthesis to a child")
    clock.now += timedelta(minutes=1)
    second = store.add_user_message(conv, "photosynthetic bacteria and the light")
    assert [h.message_id for h in store.search("photosyn")] == [second, first]  # as you type
    assert [h.message_id for h in store.search("the photosyn")] == [second]
    assert "«photosynthesis»" in store.search("photosyn")[1].snippet
    assert {h.rank for h in store.search("photosyn")} == {2.0}
    # a word found as typed is not completed: "light" finds "light", not "lighthouse" too
    store.add_user_message(conv, "the lighthouse keeper")
    assert [h.message_id for h in store.search("light")] == [second]
    assert store.search("ph") == []  # two letters are not completed


def test_a_deleted_conversation_does_not_take_places_on_the_page(clocked):
    store, clock = clocked
    kept = store.create_conversation("Kept")
    old = [store.add_user_message(kept, f"invoice number {i}") for i in range(5)]
    gone = store.create_conversation("Gone")
    for i in range(80):  # the 80 newest matches are in a conversation the user deleted
        clock.now += timedelta(minutes=1)
        store.add_user_message(gone, f"invoice draft {i}")
    store.delete_conversation(gone)
    assert sorted(h.message_id for h in store.search("invoice")) == old
    assert {h.conversation_title for h in store.search("invoice")} == {"Kept"}


def test_hits_are_shown_by_their_date_even_when_stored_later(clocked):
    """An older conversation brought in later (an import) sits where its date says."""
    store, clock = clocked
    conv = store.create_conversation("Today")
    clock.now = datetime(2026, 5, 1, tzinfo=UTC)
    recent = store.add_user_message(conv, "the budget for may")
    clock.now = datetime(2024, 5, 1, tzinfo=UTC)
    older = store.add_user_message(store.create_conversation("From 2024"), "the budget for 2024")
    hits = store.search("budget")
    assert [h.message_id for h in hits] == [recent, older]
    assert [h.created_at.year for h in hits] == [2026, 2024]
