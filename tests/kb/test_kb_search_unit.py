"""The ranking core alone: no Flask, no database."""

from __future__ import annotations

from helpdesk.kb.search import Doc, SearchIndex, normalise


def doc(i: int, title: str, body: str = "", *, summary: str = "", category: str = "General", language: str = "en",
        public: bool = True, queues: tuple[str, ...] = ()) -> Doc:
    return Doc(i, title, summary, category, body, language, public, queues)


FILLER = "Contact the help desk if anything is unclear. We answer within one business day. " * 3


def test_title_weighs_more_than_body():
    index = SearchIndex([
        doc(1, "Parking and directions", "Where to leave your car. " + FILLER + " Pharmacy is on level two."),
        doc(2, "Change your pharmacy", "Choose another store. " + FILLER),
    ])
    assert [h.id for h in index.search("pharmacy")] == [2, 1]


def test_misspellings_and_accents_still_find_the_article():
    index = SearchIndex([
        doc(1, "Reset your password", "Use the forgot password link. " + FILLER),
        doc(2, "Reschedule an appointment", "Pick a new time. " + FILLER),
        doc(3, "Restablecer la contraseña", "Use el enlace. " + FILLER, language="es"),
    ])
    assert index.search("pasword")[0].id == 1
    assert index.search("reschedual")[0].id == 2
    assert index.search("CONTRASENA")[0].id == 3
    assert index.search("contraseña")[0].id == 3
    assert "password" in index.corrections(normalise("forgot my pasword"))


def test_filters_audience_language_exclusion_and_queue_boost():
    index = SearchIndex([
        doc(1, "Billing dispute procedure", FILLER, public=False, queues=("billing",)),
        doc(2, "Dispute a charge on your bill", FILLER, queues=("billing",)),
        doc(3, "Disputar un cargo", FILLER, language="es"),
        doc(4, "Dispute a charge on your bill at the clinic", FILLER, queues=("general",)),
    ])
    public = [h.id for h in index.search("dispute charge bill", public_only=True)]
    assert 1 not in public and public[0] in (2, 4)
    assert 1 in [h.id for h in index.search("dispute procedure", public_only=False)]
    assert [h.id for h in index.search("disputar cargo", language="es")] == [3]
    assert 2 not in [h.id for h in index.search("dispute charge bill", exclude=[2])]
    boosted = index.search("dispute charge bill clinic", boost_queues=["billing"])
    plain = index.search("dispute charge bill clinic")
    assert plain[0].id == 4 and [h.id for h in boosted].index(2) <= [h.id for h in plain].index(2)


def test_limit_min_score_empty_and_nonsense_queries():
    index = SearchIndex([doc(i, f"Article {i} about refunds", FILLER) for i in range(1, 30)])
    assert len(index.search("refunds", limit=5)) == 5
    assert index.search("refunds", limit=0) == []
    assert index.search("") == [] and index.search("   ") == [] and index.search("!!!") == []
    assert index.search("zzqxj vvkpw", min_score=0.12) == []
    assert index.search("refunds" * 5000)  # a huge query is cut, not refused


def test_an_empty_index_answers_nothing():
    index = SearchIndex([])
    assert index.size == 0 and index.search("anything") == []


def test_scores_are_best_first_and_stable():
    index = SearchIndex([doc(i, "Same title", FILLER) for i in (5, 3, 9)])
    hits = index.search("same title")
    assert [h.id for h in hits] == [3, 5, 9]
    assert all(0 < h.score <= 1 for h in hits)
