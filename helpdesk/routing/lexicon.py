"""The router's lexicon: words that name a kind of thing, marked so the model can learn
the kind once instead of each word.

A request names a specialty, a medicine or a payment in words the training corpus may
use once or never ("I need a pulmonologist", "my atorvastatin ran out", "can I finance
this"). :func:`mark` appends one marker word per kind found in a normalised text
(``lexprovider``, ``lexmedication``, ``lexbilling``), so every listed word carries the
weight the model learned for its kind. Entries of six letters or more also match with one
slip (a letter missing, extra, or wrong): "gastroentrologist", "atorvastatine", "refil".

Lists are English and Spanish, accent-free and lower case (what
:func:`helpdesk.routing.compiled.normalise` produces); a phrase is at most three words.
Words that name many things ("doctor", "card", "visit", "tablet", Spanish "debo": I owe
or I must) are left out on purpose: a marker should say one thing. A model records which lexicon it was trained with (``lexicon`` in
its metadata) and is always scored with that one, so changing these lists needs a retrain
and never changes a model in service (bump :data:`VERSION` with any change).

Pure Python, no scikit-learn: the web and worker processes' compiled router uses it.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Bump when a list changes: models trained with another version keep their own.
VERSION = 1

_PROVIDER = """
dentist | orthodontist | oral surgeon | periodontist | endodontist | therapist | counselor | counsellor |
psychologist | psychiatrist | pediatrician | paediatrician | cardiologist | dermatologist | obgyn | ob gyn |
obstetrician | gynecologist | gynaecologist | ophthalmologist | optometrist | eye doctor | family doctor |
family physician | primary care | pcp | general practitioner | internist | orthopedist | orthopedic surgeon |
orthopaedic surgeon | physical therapist | physiotherapist | occupational therapist | speech therapist |
allergist | immunologist | ent | otolaryngologist | neurologist | neurosurgeon | podiatrist | nutritionist |
dietitian | dietician | urologist | endocrinologist | midwife | doula | sleep specialist | rheumatologist |
oncologist | hematologist | chiropractor | gastroenterologist | pulmonologist | nephrologist | hepatologist |
nurse practitioner | physician assistant | radiologist | anesthesiologist | geriatrician | audiologist |
plastic surgeon | vascular surgeon | lactation consultant | pediatra | cardiologo | dermatologo | ginecologo |
obstetra | oftalmologo | oculista | optometrista | medico de familia | medico general | ortopedista |
traumatologo | fisioterapeuta | terapeuta | psicologo | psiquiatra | alergologo | neurologo | podologo |
nutricionista | nutriologo | urologo | endocrinologo | partera | oncologo | otorrino | otorrinolaringologo |
gastroenterologo | neumologo | nefrologo | reumatologo | dentista | odontologo | quiropractico
"""

_MEDICATION = """
lisinopril | metformin | insulin | sertraline | levothyroxine | amoxicillin | gabapentin | atorvastatin |
omeprazole | simvastatin | amlodipine | losartan | hydrochlorothiazide | metoprolol | albuterol | prednisone |
ibuprofen | acetaminophen | tylenol | naproxen | tramadol | oxycodone | hydrocodone | fluoxetine | escitalopram |
citalopram | bupropion | trazodone | duloxetine | venlafaxine | alprazolam | lorazepam | clonazepam | zolpidem |
pantoprazole | esomeprazole | famotidine | montelukast | cetirizine | loratadine | fluticasone | rosuvastatin |
pravastatin | warfarin | eliquis | apixaban | xarelto | rivaroxaban | clopidogrel | plavix | furosemide | lasix |
spironolactone | carvedilol | propranolol | atenolol | diltiazem | valsartan | glipizide | glimepiride | januvia |
jardiance | ozempic | semaglutide | trulicity | victoza | humalog | lantus | novolog | levemir | tamsulosin |
finasteride | sildenafil | azithromycin | doxycycline | cephalexin | ciprofloxacin | clindamycin | augmentin |
penicillin | valacyclovir | acyclovir | methotrexate | hydroxychloroquine | allopurinol | colchicine |
meloxicam | cyclobenzaprine | baclofen | topiramate | lamotrigine | levetiracetam | adderall | ritalin |
methylphenidate | vyvanse | concerta | synthroid | estradiol | inhaler | epipen | nitroglycerin | digoxin |
eye drops | ear drops | nasal spray | birth control | antibiotic | antibiotics | antidepressant | painkiller |
painkillers | medication | medications | medicine | medicines | meds | prescription | prescriptions | refill |
refills | pills | capsules | dosage | pharmacy | pharmacist | metformina | insulina | sertralina |
amoxicilina | omeprazol | atorvastatina | ibuprofeno | paracetamol | inhalador | pastillas | medicina |
medicamento | medicamentos | receta | recetas | farmacia | anticonceptivos | antibiotico | antibioticos |
resurtir | gotas
"""

_BILLING = """
bill | bills | billing | billed | invoice | invoices | statement | statements | charge | charges | charged |
overcharged | refund | refunds | refunded | reimbursement | reimburse | reimbursed | rebate | compensation |
payment | payments | pay | paid | installment | installments | instalment | instalments | financing | finance |
loan | loans | dispute | disputed | fraud | fraudulent | copay | copayment | deductible | coinsurance | balance |
owe | owed | collections | receipt | autopay | hsa | fsa | estimate | price | cost | costs | fee | fees |
factura | facturas | cobro | cobros | cobraron | cobran | cargo | cargos | reembolso | pago | pagos | pagar |
cuotas | financiamiento | prestamo | copago | deducible | saldo | recibo
"""

KINDS: dict[str, str] = {"lexprovider": _PROVIDER, "lexmedication": _MEDICATION, "lexbilling": _BILLING}

_FUZZY_MIN = 6  # shorter entries match exactly only: one slip in "bill" makes other words
_WORD = re.compile(r"\w+")


def _entries(block: str) -> list[str]:
    return [" ".join(e.split()) for e in block.split("|") if e.strip()]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(exact entries -> kind, one-letter-deleted forms of long single words -> kind).

    A form that two kinds share is dropped from the fuzzy table (it says nothing)."""
    exact: dict[str, str] = {}
    fuzzy: dict[str, str | None] = {}
    for kind, block in KINDS.items():
        for entry in _entries(block):
            exact.setdefault(entry, kind)
            if " " not in entry and len(entry) >= _FUZZY_MIN:
                for form in {entry} | _deletes(entry):
                    if fuzzy.get(form, kind) != kind:
                        fuzzy[form] = None
                    else:
                        fuzzy[form] = kind
    return exact, {k: v for k, v in fuzzy.items() if v is not None}


def _kind(word: str, exact: dict[str, str], fuzzy: dict[str, str]) -> str | None:
    kind = exact.get(word)
    if kind is not None or len(word) < _FUZZY_MIN - 1 or not word.isalpha():
        return kind
    kind = fuzzy.get(word)  # a letter missing
    if kind is not None:
        return kind
    for form in _deletes(word):  # a letter extra (the form is the word) or wrong (both lose one)
        kind = fuzzy.get(form)
        if kind is not None and (len(form) >= _FUZZY_MIN or form in exact):
            return kind
    return None


def kinds(text: str) -> list[str]:
    """The kinds named in a normalised text, in the order first found."""
    exact, fuzzy = _tables()
    words = _WORD.findall(text)
    found: list[str] = []
    for i, word in enumerate(words):
        kind = exact.get(" ".join(words[i : i + 3])) or exact.get(" ".join(words[i : i + 2]))
        kind = kind or _kind(word, exact, fuzzy)
        if kind is not None and kind not in found:
            found.append(kind)
    return found


def mark(text: str) -> str:
    """``text`` with a marker word appended for each kind it names (unchanged if none)."""
    found = kinds(text)
    return f"{text} {' '.join(found)}" if found else text
