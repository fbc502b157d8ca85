"""The router's lexicon: words that name a specialty, a medicine or a payment carry one
marker the model learns once, so requests naming ones the corpus never uses still route."""

from __future__ import annotations

import pytest

from helpdesk.routing import lexicon
from helpdesk.routing.classifier import Router, train
from helpdesk.routing.compiled import (
    ModelLoadError,
    compile_router,
    dumps,
    loads,
    normalise,
    prepare,
)
from helpdesk.routing.training import corpus_examples

pytestmark = pytest.mark.pure  # no app, no database


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    return corpus_examples()


@pytest.fixture(scope="module")
def router(corpus) -> Router:
    return train(*corpus)


@pytest.mark.parametrize(("text", "kinds"), [
    ("I need a pulmonologist near me", ["lexprovider"]),
    ("my atorvastatin ran out, can I pay for a refill later", ["lexmedication", "lexbilling"]),
    ("OB-GYN on Saturday", ["lexprovider"]),  # a hyphenated name is two words
    ("necesito un médico de familia", ["lexprovider"]),  # three words, accents folded
    ("eye-drops", ["lexmedication"]),
    ("can I finance this? can I finance that?", ["lexbilling"]),  # each kind once
])
def test_a_named_kind_gets_its_marker(text: str, kinds: list[str]):
    assert lexicon.kinds(normalise(text)) == kinds
    assert lexicon.mark(normalise(text)) == normalise(text) + " " + " ".join(kinds)


@pytest.mark.parametrize(("text", "kind"), [
    ("gastroentrologist", "lexprovider"),  # a letter missing
    ("atorvastatine", "lexmedication"),  # a letter extra
    ("dermatologost", "lexprovider"),  # a letter wrong
    ("reimbursment please", "lexbilling"),
    ("refil", "lexmedication"),  # "refill" has six letters: its slips match too
])
def test_long_words_match_with_one_slip(text: str, kind: str):
    assert lexicon.kinds(normalise(text)) == [kind]


@pytest.mark.parametrize("text", [
    "how do I send a card to a patient",  # card: a get-well card, an insurance card, a bank card
    "the portal won't open on my tablet",  # tablet: a device, not a pill
    "que debo llevar a mi primera visita",  # debo: I must (not only I owe)
    "I want to see a doctor",  # too general to say anything
    "bils",  # words under six letters match exactly only ("bill" has four)
    "",
])
def test_words_that_name_many_things_get_no_marker(text: str):
    assert lexicon.mark(normalise(text)) == normalise(text)


@pytest.mark.parametrize(("text", "queue"), [
    ("my tamsulosin ran out", "prescriptions"),
    ("I ran out of clopidogrel", "prescriptions"),
    ("I need a hepatologist near my house", "scheduling"),
    ("why is my coinsurance so high", "billing"),
])
def test_requests_naming_words_the_corpus_never_uses_are_routed(router: Router, corpus, text: str, queue: str):
    texts, _labels = corpus
    named = [w for w in normalise(text).split() if lexicon.kinds(w)]
    assert named and not any(w in normalise(t) for t in texts for w in named)  # only the lexicon has the word
    decision = router.decide(text)
    assert (decision.queue, decision.auto_routed) == (queue, True)


def test_a_model_records_its_lexicon_and_is_always_scored_with_it(router: Router, corpus):
    assert router.lexicon == lexicon.VERSION
    compiled = compile_router(router)
    assert compiled.metadata()["lexicon"] == lexicon.VERSION
    text = "refill my atorvastatin"
    assert prepare(text, router.lexicon).endswith("lexmedication")
    assert [q for q, _ in compiled.predict_proba([text])[0]] == [q for q, _ in router.predict_proba([text])[0]]

    plain = train(*corpus, use_lexicon=False)  # as every model before the lexicon
    assert plain.lexicon == 0 and compile_router(plain).lexicon == 0
    assert prepare(text, plain.lexicon) == normalise(text)
    proba = plain.pipeline.predict_proba([normalise(text)])[0]
    assert max(p for _, p in plain.predict_proba([text])[0]) == pytest.approx(max(proba), abs=1e-9)


def test_a_model_of_a_lexicon_this_code_does_not_have_is_refused(router: Router):
    compiled = compile_router(router)
    compiled.meta["lexicon"] = lexicon.VERSION + 1
    with pytest.raises(ModelLoadError):
        loads(dumps(compiled))
