"""Search ranking against the seeded content: realistic, misspelled patient queries in
English and Spanish find the right article first."""

from __future__ import annotations

from helpdesk.kb.index import search_articles, suggest_for_patient

RANKING = [
    # English
    ("pasword", "reset-your-password"),
    ("forgot my pasword", "reset-your-password"),
    ("i forgot my pasword and cant log in", "reset-your-password"),
    ("reschedual", "reschedule-or-cancel-an-appointment"),
    ("reschedual my apointment", "reschedule-or-cancel-an-appointment"),
    ("need to cancle my appointmnet", "reschedule-or-cancel-an-appointment"),
    ("payment plan for my bil", "payment-plans"),
    ("acount locked", "account-locked"),
    ("activaton code expired", "activation-code-expired-or-never-arrived"),
    ("forgot usernam", "forgot-your-username"),
    ("two step verificaton code not arriving", "two-step-verification-codes"),
    ("refil my prescripshun", "request-a-prescription-refill"),
    ("chnage pharmacy", "change-your-pharmacy"),
    ("camra not working video visit", "fix-video-visit-camera-and-microphone"),
    ("test resluts not showing", "test-results-not-showing-yet"),
    ("copy of medical recods", "request-a-copy-of-your-records"),
    ("interpeter", "interpreter-services"),
    ("parkng", "parking-and-directions"),
    ("finacial asistance", "financial-assistance"),
    ("insurence claim denyed", "insurance-claim-denied"),
    ("proxy acess for my child", "proxy-access-for-a-child"),
    ("price estimat for mri", "get-a-price-estimate"),
    ("app keeps crashing", "app-crashes-or-wont-load"),
    ("imunization record for school", "immunization-records"),
    ("refund", "refunds"),
    # Spanish
    ("restablecer contrasena", "restablecer-la-contrasena"),
    ("olvide mi contraseña", "restablecer-la-contrasena"),
    ("olvide mi contrasenia", "restablecer-la-contrasena"),
    ("cambiar mi sita", "cambiar-o-cancelar-una-cita"),
    ("cancelar cita", "cambiar-o-cancelar-una-cita"),
    ("no entiendo mi factura", "entender-su-factura"),
    ("plan de pagos", "plan-de-pagos"),
    ("expediente medico", "solicitar-su-expediente-medico"),
    ("renovar reseta", "renovar-una-receta"),
    ("videoconsulta no funsiona", "problemas-con-la-videoconsulta"),
    ("codigo de activasion", "codigo-de-activacion"),
    ("horario de atencion", "contacto-y-horarios"),
    ("acceso para mi hijo", "acceso-de-representante"),
]


def test_the_right_article_comes_first_for_misspelled_queries_in_both_languages(seeded):
    # One seeded database for the whole table (seeding per query would take minutes);
    # every miss is listed in the failure message.
    misses = []
    for query, expected in RANKING:
        results = search_articles(query)
        top = [r.article.slug for r in results[:3]]
        if not top or top[0] != expected:
            misses.append(f"{query!r}: expected {expected}, got {top}")
    assert not misses, "\n".join(misses)
    assert sum(1 for _, slug in RANKING if seeded[slug].language.value == "es") >= 12


def test_bil_lands_on_a_billing_article(seeded):
    results = search_articles("bil")
    assert results[0].article.category == "Bills and payments"


def test_the_seed_has_enough_articles_in_both_languages(seeded):
    assert len(seeded) >= 30
    assert sum(1 for a in seeded.values() if a.language.value == "es") >= 8
    assert all(a.status.value == "published" for a in seeded.values())


def test_internal_articles_never_reach_patients_but_do_reach_agents(seeded):
    internal = seeded["agent-verifying-identity-before-account-reset"]
    query = "verifying identity before account reset procedure"
    assert internal.id not in [r.article.id for r in search_articles(query)]
    assert internal.id not in [r.article.id for r in suggest_for_patient(query)]
    assert search_articles(query, include_internal=True)[0].article.id == internal.id


def test_patient_suggestions_need_a_real_match(seeded):
    assert suggest_for_patient("asdkjh qwe zzz") == []
    assert suggest_for_patient("hello") == []
    found = suggest_for_patient("I was charged twice for my visit on my statement")
    assert 1 <= len(found) <= 3 and found[0].article.category == "Bills and payments"


def test_language_filter(seeded):
    results = search_articles("cita", language="es")
    assert results and all(r.article.language.value == "es" for r in results)
