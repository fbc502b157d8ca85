"""Generate the router's templated corpus: ``generated.csv`` (trained on) and
``holdback.csv`` (never trained on: the project's own yardstick).

    python -m helpdesk.routing.corpus.generate [--per-pattern 60] [--seed 7]

Hand-written requests (``train.csv``) cover each queue's core asks; they are thin on the
ways real patients phrase some of them. This generator writes, in English and Spanish,
requests for those phrasings from templates × slot values, then roughens a share of them
the way people type (telegraphic, misspelt, all lower case, a pleasantry or a story
before the ask):

========================  ==============  ==================================================
pattern                   queue           what it covers
========================  ==============  ==================================================
provider_search           scheduling      finding or choosing a provider: type, specialty,
                                          place, day, insurance accepted, language, gender
booking                   scheduling      book / move / cancel / wait-list, telegraphic
payment_arrangement       billing         payment plans, instalments, financing, "loan",
                                          hardship, financial assistance
dispute_refund            billing         double or unknown charges, fraud on a card,
                                          disputes, refunds, collections, insurance denials
insurance_coverage        billing         what insurance covers, new or changed insurance,
                                          estimates, claims sent to the wrong plan
payment_method            billing         card on file, autopay, failed payment, receipt
account_access            account-access  sign-in, codes, locked, username, proxy access
technical                 technical       the app or site failing, video visits, uploads
records                   records         copies, results, corrections, sending records
prescriptions             prescriptions   refills, pharmacy, prior authorisation
general                   general         hours, parking, directions, contacts, feedback
========================  ==============  ==================================================

The held-back slice is built from templates and slot values the training rows never use
(every template and slot list is split in two by position: the last part of each list is
held back), so its figures show how the model does on phrasings and words it has not
seen, per pattern (``flask routing evaluate --holdback``). No row is copied from any
public data set; everything here was written for this product.

The output is deterministic for a seed: re-running rewrites the same files.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATED_CSV = HERE / "generated.csv"
HOLDBACK_CSV = HERE / "holdback.csv"

# ---------------------------------------------------------------------------------------
# Slot values, English and Spanish. The last ``1/HOLD`` of each list is held back.

HOLD = 4  # every list: the last quarter (at least one item) is for the held-back slice

SLOTS_EN: dict[str, list[str]] = {
    "provider": [
        "dentist", "therapist", "pediatrician", "cardiologist", "dermatologist", "OB-GYN", "eye doctor",
        "family doctor", "primary care doctor", "orthopedic surgeon", "physical therapist", "psychiatrist",
        "allergist", "gynecologist", "ENT doctor", "neurologist", "counselor", "podiatrist", "nutritionist",
        "urologist", "endocrinologist", "midwife", "sleep specialist", "rheumatologist", "oncologist",
        "chiropractor", "speech therapist", "optometrist", "gastroenterologist", "pulmonologist",
        "psychologist", "nurse practitioner",
    ],
    "place": [
        "near me", "close to home", "near my work", "downtown", "on the north side", "in my area",
        "close to the Eastgate clinic", "within 10 miles", "near the bus line", "on the west side of town",
        "in Springfield", "near zip code 60614", "by the Lakeview campus", "closer to where I live",
        "in the suburbs", "near the main hospital",
    ],
    "day": [
        "on Saturday", "next Tuesday", "tomorrow morning", "this week", "after 5pm", "on a weekend",
        "early in the morning", "Friday afternoon", "next month", "before the holidays", "on my lunch break",
        "this coming Monday", "as soon as possible", "in the evening", "on Thursday", "later this week",
    ],
    "insurance": [
        "my insurance", "Medicaid", "Medicare", "Blue Cross", "Aetna", "my HMO plan", "Cigna",
        "United Healthcare", "Tricare", "the marketplace plan I have", "my new insurance", "Humana",
        "my employer's plan", "Kaiser", "CHIP for my kids", "an out of network plan",
    ],
    "who": [
        "my son", "my daughter", "my mom", "my husband", "my wife", "my dad", "myself", "my grandmother",
        "my baby", "my teenager", "my partner", "my elderly father",
    ],
    "lang": ["Spanish", "Vietnamese", "Arabic", "Mandarin", "Russian", "Polish", "Haitian Creole", "Korean"],
    "visit": [
        "appointment", "checkup", "follow-up visit", "physical", "annual exam", "consult", "video visit",
        "cleaning", "screening", "well child visit", "MRI", "vaccine appointment", "mammogram", "blood draw",
        "ultrasound", "post-op visit",
    ],
    "amount": ["$85", "$240", "$1,200", "$3,400", "$62.50", "$900", "$15", "$410", "$7,800", "$130", "$2,050"],
    "card": ["credit card", "debit card", "bank account", "Visa", "card", "checking account", "Mastercard", "HSA card"],
    "thing": [
        "bill", "statement", "invoice", "balance", "account balance", "hospital bill", "ER bill", "lab bill",
        "surgery bill", "ambulance bill", "copay", "deductible", "co-insurance charge", "anesthesia bill",
    ],
    "device": ["iPhone", "Android phone", "laptop", "iPad", "work computer", "Chromebook", "tablet", "Samsung"],
    "record": [
        "medical records", "lab results", "x-ray images", "immunization records", "visit notes",
        "MRI report", "discharge papers", "test results", "vaccination card", "chart", "pathology report",
        "CT scan images",
    ],
    "med": [
        "lisinopril", "metformin", "my inhaler", "insulin", "my blood pressure pills", "sertraline",
        "levothyroxine", "my birth control", "amoxicillin", "my cholesterol medicine", "gabapentin",
        "atorvastatin", "my eye drops", "omeprazole",
    ],
}

SLOTS_ES: dict[str, list[str]] = {
    "provider": [
        "dentista", "terapeuta", "pediatra", "cardiólogo", "dermatólogo", "ginecólogo", "oculista",
        "médico de familia", "médico general", "ortopedista", "fisioterapeuta", "psiquiatra", "alergólogo",
        "neurólogo", "psicólogo", "nutricionista", "urólogo", "endocrinólogo", "partera", "oncólogo",
        "otorrino", "podólogo",
    ],
    "place": [
        "cerca de mi casa", "cerca de mí", "en el centro", "en el lado norte", "cerca de mi trabajo",
        "en mi zona", "por la clínica Eastgate", "a menos de 10 millas", "cerca del hospital principal",
        "en Springfield", "más cerca de donde vivo",
    ],
    "day": [
        "el sábado", "el próximo martes", "mañana por la mañana", "esta semana", "después de las 5",
        "el fin de semana", "temprano", "el viernes por la tarde", "el mes que viene", "lo antes posible",
        "por la tarde", "el jueves",
    ],
    "insurance": [
        "mi seguro", "Medicaid", "Medicare", "Blue Cross", "Aetna", "mi plan HMO", "Cigna", "mi seguro nuevo",
        "el seguro de mi trabajo", "Humana",
    ],
    "who": ["mi hijo", "mi hija", "mi mamá", "mi esposo", "mi esposa", "mi papá", "mí", "mi abuela", "mi bebé"],
    "visit": [
        "cita", "consulta", "revisión", "chequeo", "cita de seguimiento", "examen anual", "videoconsulta",
        "limpieza dental", "vacuna", "mamografía", "análisis de sangre", "ultrasonido",
    ],
    "amount": ["$85", "$240", "$1,200", "$3,400", "$62", "$900", "$410", "$130"],
    "card": ["tarjeta de crédito", "tarjeta de débito", "cuenta bancaria", "tarjeta", "Visa", "cuenta de cheques"],
    "thing": ["factura", "cuenta", "saldo", "cobro", "factura del hospital", "factura de emergencias",
              "copago", "deducible", "factura del laboratorio", "factura de la ambulancia"],
    "device": ["celular", "iPhone", "teléfono Android", "computadora", "tableta", "laptop"],
    "record": ["expediente médico", "resultados de laboratorio", "radiografías", "registro de vacunas",
               "notas de la consulta", "resultados", "historial clínico", "informe de la resonancia"],
    "med": ["metformina", "mi inhalador", "insulina", "las pastillas de la presión", "losartán",
            "mis anticonceptivos", "amoxicilina", "la medicina del colesterol", "mis gotas para los ojos"],
}

# ---------------------------------------------------------------------------------------
# Templates per pattern (queue, English, Spanish). The last 1/HOLD of each is held back.


@dataclass(frozen=True)
class Pattern:
    queue: str
    en: tuple[str, ...]
    es: tuple[str, ...]


PATTERNS: dict[str, Pattern] = {
    "provider_search": Pattern("scheduling", (
        "I need a {provider} {place}",
        "looking for a {provider} who takes {insurance}",
        "can you find me a {provider} for {day}",
        "does any {provider} have openings {day}",
        "I'm new to the area and need a {provider}",
        "who is a good {provider} {place}",
        "need a new {provider} for {who}",
        "is there a {provider} accepting new patients {place}",
        "can you recommend a {provider} that speaks {lang}",
        "I want to switch to a different {provider}",
        "I would like a female {provider} if possible",
        "which {provider} takes {insurance} {place}",
        "help finding a {provider}",
        "do you have a {provider} available {day}",
        "trying to find a {provider} for {who} {place}",
        "is there any {provider} in network with {insurance}",
        "I'd like to establish care with a {provider}",
        "my {provider} retired, I need a new one",
        "where can I see a {provider} {day}",
        "list of {provider}s {place} please",
        "I need to get in with a {provider} {day}",
        "any {provider} who sees kids {place}",
        "referral came through, now I need to pick a {provider}",
        "what {provider} would you suggest for {who}",
    ), (
        "necesito un {provider} {place}",
        "busco un {provider} que acepte {insurance}",
        "me pueden buscar un {provider} para {day}",
        "hay algún {provider} con citas disponibles {day}",
        "soy nuevo en la zona y necesito un {provider}",
        "quiero cambiar de {provider}",
        "necesito un {provider} para {who}",
        "hay un {provider} que hable español {place}",
        "qué {provider} me recomiendan {place}",
        "ayuda para encontrar un {provider}",
        "algún {provider} que acepte pacientes nuevos",
        "dónde puedo ver a un {provider} {day}",
    )),
    "booking": Pattern("scheduling", (
        "I need to book a {visit} {day}",
        "can I move my {visit} to {day}",
        "cancel my {visit} please",
        "reschedule {visit}",
        "what's the earliest {visit} you have",
        "put me on the wait list for an earlier {visit}",
        "I have to change the time of my {visit}",
        "need {visit} for {who} {day}",
        "can't make it to my {visit} {day}",
        "how do I schedule a {visit}",
        "is there any opening for a {visit} {day}",
        "appointment for {who} {day}",
        "I missed my {visit} and need a new one",
        "book me in for a {visit} with my doctor",
        "want to set up a {visit} {day}",
        "confirm my {visit} time",
    ), (
        "necesito hacer una {visit} {day}",
        "puedo cambiar mi {visit} para {day}",
        "quiero cancelar mi {visit}",
        "reprogramar {visit}",
        "cuál es la primera {visit} disponible",
        "no puedo ir a mi {visit} {day}",
        "cómo hago una {visit} para {who}",
        "perdí mi {visit} y necesito otra",
        "confirmar la hora de mi {visit}",
    )),
    "payment_arrangement": Pattern("billing", (
        "can I set up a payment plan for my {thing}",
        "I can't pay the whole {amount} at once",
        "is there a way to pay my {thing} in installments",
        "do you offer financing for a {amount} {thing}",
        "can I get a loan to cover my {thing}",
        "I need a payment arrangement",
        "can I pay a little each month",
        "I lost my job and can't afford my {thing}",
        "how do I apply for financial assistance",
        "is there charity care or a hardship discount",
        "can my monthly payment be lowered",
        "I'd like to spread the {amount} over a few months",
        "what happens if I can only pay part of the {thing}",
        "can I defer my payment until next month",
        "payment plan?",
        "I want to arrange monthly payments on my {thing}",
        "I'm on a fixed income, is there a sliding scale",
        "can you give me more time to pay the {thing}",
        "do you have interest free plans",
        "can I make a partial payment on the {thing} this month",
        "is it ok if I pay the rest {day}",
        "when is my {thing} due",
        "can the due date on my {thing} be pushed back",
        "I get paid {day}, can I pay then",
    ), (
        "puedo hacer un plan de pagos para mi {thing}",
        "no puedo pagar los {amount} de una vez",
        "puedo pagar la {thing} en cuotas",
        "ofrecen financiamiento para una {thing} de {amount}",
        "perdí mi trabajo y no puedo pagar la {thing}",
        "cómo pido ayuda financiera",
        "puedo pagar un poco cada mes",
        "necesito un arreglo de pago",
        "me pueden dar más tiempo para pagar",
        "puedo hacer un pago parcial este mes",
    )),
    "dispute_refund": Pattern("billing", (
        "I was charged twice for the same {visit}",
        "there is a charge on my {card} I don't recognize",
        "I want to dispute this {thing}",
        "fraudulent charge from the hospital on my {card}",
        "why was I billed {amount}",
        "my insurance should have covered this {thing}",
        "when will I get my refund",
        "refund the overpayment to my {card}",
        "I paid {amount} but my {thing} still shows a balance",
        "I was overcharged for my {visit}",
        "this {thing} went to collections and I never got a statement",
        "I never had this procedure but I'm being billed",
        "the amount on my {thing} is wrong",
        "I have a credit on my account, can I get it back",
        "charged for a {visit} I cancelled",
        "my claim was denied and now I owe {amount}",
        "I need an itemized {thing} to check the charges",
        "duplicate charge {amount}",
        "I'd like my money back for the {visit}",
        "the hospital took {amount} out of my {card} without asking",
    ), (
        "me cobraron dos veces la misma {visit}",
        "hay un cargo en mi {card} que no reconozco",
        "quiero disputar esta {thing}",
        "por qué me cobraron {amount}",
        "mi seguro debía cubrir esta {thing}",
        "cuándo me devuelven el dinero",
        "pagué {amount} y todavía aparece un saldo",
        "me cobraron de más por la {visit}",
        "la {thing} está mal",
        "me mandaron a cobranza sin avisar",
    )),
    "insurance_coverage": Pattern("billing", (
        "does {insurance} cover my {visit}",
        "I have new insurance, how do I update it",
        "I switched to {insurance}, please update my account",
        "my insurance changed {day}",
        "is my {visit} covered by {insurance}",
        "how much will I owe after {insurance} pays",
        "please add {insurance} as my secondary insurance",
        "you billed the wrong insurance",
        "my insurance policy number changed",
        "how do I send you my new insurance card",
        "why didn't you bill {insurance} for my {visit}",
        "what is my deductible for this {thing}",
        "I need an estimate of the cost of a {visit} with {insurance}",
        "my plan changed at work, who do I tell",
        "can you resubmit the claim to {insurance}",
        "I don't have insurance right now, what will the {visit} cost",
    ), (
        "mi seguro cubre la {visit}",
        "tengo seguro nuevo, cómo lo actualizo",
        "cambié a {insurance}, por favor actualicen mi cuenta",
        "le cobraron al seguro equivocado",
        "cuánto voy a pagar después de que pague {insurance}",
        "no tengo seguro, cuánto cuesta la {visit}",
        "pueden volver a mandar el reclamo a {insurance}",
        "cómo les mando mi tarjeta del seguro nueva",
    )),
    "payment_method": Pattern("billing", (
        "how do I update the {card} on file",
        "my payment didn't go through",
        "set up autopay for my {thing}",
        "can I pay my {thing} online",
        "I need a receipt for my payment of {amount}",
        "remove my old {card} from autopay",
        "does the hospital accept payment by phone",
        "where do I pay my {thing}",
        "can I use my HSA to pay the {thing}",
        "the payment page declined my {card}",
        "I want to pay off my balance of {amount}",
        "do you take Apple Pay",
        "can I pay {day} instead",
        "my autopay didn't run {day}",
        "how do I see what I owe on my account",
        "can I pay for {who}'s {thing} from my account",
    ), (
        "cómo cambio la {card} registrada",
        "mi pago no pasó",
        "quiero pagar mi {thing} en línea",
        "necesito un recibo de mi pago de {amount}",
        "dónde pago mi {thing}",
        "me rechazaron la {card} al pagar",
    )),
    "account_access": Pattern("account-access", (
        "I can't log in",
        "forgot my password",
        "my account is locked",
        "the verification code never arrives on my {device}",
        "I don't remember my username",
        "reset link expired",
        "how do I get proxy access to {who}'s account",
        "I changed my phone number and can't get the code",
        "it says my email is already registered",
        "I can't sign in on my {device}",
        "locked out after too many tries",
        "how do I change the email on my account",
        "activation link doesn't work",
        "two factor code not working",
        "can't get into my portal account",
        "I need to unlock my account",
        "my account was suspended",
        "my account is frozen and I can't get in",
        "someone else got into my account",
        "I want to close my portal account",
        "how do I change my password",
        "my login stopped working {day}",
        "update the security questions on my account",
        "I think my account was hacked",
        "my account got disabled {day}",
        "can't access my account on my {device}",
        "why is my account on hold",
        "my account says it is restricted",
        "there is a hold on my portal account",
        "my account is pending verification, how long does it take",
        "why was my account flagged",
        "my account is under review and I can't see anything",
    ), (
        "no puedo entrar a mi cuenta",
        "olvidé mi contraseña",
        "mi cuenta está bloqueada",
        "no me llega el código a mi {device}",
        "no recuerdo mi usuario",
        "cómo tengo acceso a la cuenta de {who}",
        "el enlace para restablecer expiró",
        "cambié de número y no recibo el código",
        "por qué mi cuenta está suspendida",
        "mi cuenta dice que está en revisión",
    )),
    "technical": Pattern("technical", (
        "the app keeps crashing on my {device}",
        "the video visit won't connect",
        "the page is stuck loading",
        "I get an error when I upload a document",
        "my camera doesn't work in the video visit on my {device}",
        "the portal is really slow today",
        "the button doesn't do anything when I click it",
        "blank screen after the update",
        "can't hear the doctor during the video call",
        "the site won't open in my browser",
        "error message when I try to send a message",
        "notifications stopped working on my {device}",
        "since {day} the app won't open on my {device}",
        "the portal has been down {day}",
    ), (
        "la aplicación se cierra sola en mi {device}",
        "la videoconsulta no conecta",
        "la página no carga",
        "me sale un error al subir un documento",
        "no funciona la cámara en la videollamada",
        "la pantalla se queda en blanco",
    )),
    "records": Pattern("records", (
        "I need a copy of my {record}",
        "please send my {record} to my new doctor",
        "my {record} aren't showing in the portal",
        "how do I request {record} for {who}",
        "there is a mistake in my {record}",
        "can I get my {record} on a disc",
        "when will my {record} be available",
        "fax my {record} to my specialist",
        "I want my {record} corrected",
        "need {record} for school",
        "who can release my {record} to a lawyer",
        "my {record} from {day} are still not posted",
        "can I see {who}'s {record} online",
        "download my {record}",
    ), (
        "necesito una copia de mi {record}",
        "manden mi {record} a mi nuevo doctor",
        "no aparecen mis {record} en el portal",
        "hay un error en mi {record}",
        "cómo pido el {record} de {who}",
        "cuándo estarán mis {record}",
    )),
    "prescriptions": Pattern("prescriptions", (
        "I need a refill of {med}",
        "my pharmacy says the prescription for {med} expired",
        "can you send {med} to a different pharmacy",
        "I'm almost out of {med}",
        "insurance needs a prior authorization for {med}",
        "renew my prescription for {med}",
        "the pharmacy never got my {med} order",
        "refill {med} pls",
        "can my doctor change the dose of {med}",
        "{med} is too expensive, is there a generic",
    ), (
        "necesito resurtir {med}",
        "la farmacia dice que la receta de {med} venció",
        "me queda poca {med}",
        "pueden mandar {med} a otra farmacia",
        "renovar la receta de {med}",
    )),
    "general": Pattern("general", (
        "what are the visiting hours",
        "where do I park",
        "how do I get to the Lakeview campus",
        "what's the phone number for the front desk",
        "I want to leave a compliment for the nurses",
        "do you have interpreters",
        "is the cafeteria open on weekends",
        "I want to file a complaint about how I was treated",
        "can I bring a support person with me",
        "what should I bring to my first visit",
        "is there wifi for visitors",
        "who do I talk to about lost belongings",
    ), (
        "cuál es el horario de visitas",
        "dónde me estaciono",
        "cómo llego al campus Lakeview",
        "quiero poner una queja",
        "tienen intérpretes",
        "qué debo llevar a mi primera visita",
    )),
}

OPENERS_EN = [
    "Hi,", "Hello,", "Good morning,", "Hi there.", "Hey,", "Good afternoon,", "Hello team,", "Hi, hope you're well.",
    "Sorry to bother you,", "Quick question:", "Hi, I have a question.", "Thanks in advance.",
]
STORIES_EN = [
    "We just moved here last month and I'm still figuring things out.",
    "I've been going back and forth with this for a while now.",
    "My mother usually handles this but she is traveling.",
    "I called yesterday and was told to write in here.",
    "I had surgery a few weeks ago and I'm finally catching up on things.",
    "I've been a patient at your hospital for years.",
    "This is my first time using the portal, so bear with me.",
    "My husband got a new job and our coverage changed.",
]
CLOSERS_EN = ["Thanks!", "Thank you.", "Appreciate it.", "Please help.", "Thanks so much.", "Any help is appreciated."]
OPENERS_ES = ["Hola,", "Buenos días,", "Buenas tardes,", "Hola, disculpe,", "Una pregunta:", "Hola, buen día."]
STORIES_ES = [
    "Nos mudamos hace poco y todavía no conocemos nada.",
    "Llamé ayer y me dijeron que escribiera aquí.",
    "Es la primera vez que uso el portal.",
    "Mi mamá normalmente se encarga de esto pero está de viaje.",
]
CLOSERS_ES = ["Gracias.", "Muchas gracias.", "Gracias de antemano.", "Por favor ayúdenme."]
FILLERS_EN = {"i", "a", "an", "the", "to", "my", "for", "is", "can", "you", "me", "please", "do", "of", "it", "that"}


def _split(values: Sequence[str], held: bool) -> list[str]:
    cut = len(values) - max(1, len(values) // HOLD)
    return list(values[cut:] if held else values[:cut])


def _typo(text: str, rng: random.Random) -> str:
    """One or two slips of the keyboard in words of four letters or more."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(candidates, min(len(candidates), rng.choice((1, 1, 2)))):
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        kind = rng.random()
        if kind < 0.35:
            w = w[:j] + w[j + 1:]  # dropped letter
        elif kind < 0.7:
            w = w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]  # swapped letters
        else:
            w = w[:j] + w[j] + w[j:]  # doubled letter
        words[i] = w
    return " ".join(words)


def _telegraphic(text: str) -> str:
    kept = [w for w in text.split() if w.lower().strip(",.?!") not in FILLERS_EN]
    return " ".join(kept) if len(kept) >= 2 else text


def _roughen(text: str, lang: str, rng: random.Random) -> str:
    """Turn a clean request into how people type it (a share stays clean)."""
    roll = rng.random()
    openers, stories, closers = (OPENERS_EN, STORIES_EN, CLOSERS_EN) if lang == "en" else (OPENERS_ES, STORIES_ES, CLOSERS_ES)
    if roll < 0.25:
        text = f"{rng.choice(openers)} {text[0].upper() + text[1:]}. {rng.choice(closers)}"
    elif roll < 0.40:
        text = f"{rng.choice(openers)} {rng.choice(stories)} {text[0].upper() + text[1:]}?"
    elif roll < 0.50 and lang == "en":
        text = _telegraphic(text)
    if rng.random() < 0.25:
        text = _typo(text, rng)
    if rng.random() < 0.05:
        text = text.upper()
    return text


def _fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    values = {name: rng.choice(options) for name, options in slots.items() if "{" + name + "}" in template}
    return template.format(**values)


def rows(per_pattern: int, *, held: bool, seed: int) -> list[tuple[str, str, str]]:
    """``(text, queue, pattern)`` rows; ``held`` picks the held-back templates and slot values."""
    rng = random.Random(seed * 2 + int(held))
    slots = {
        "en": {k: _split(v, held) for k, v in SLOTS_EN.items()},
        "es": {k: _split(v, held) for k, v in SLOTS_ES.items()},
    }
    out: list[tuple[str, str, str]] = []
    for name, pattern in PATTERNS.items():
        templates = {"en": _split(pattern.en, held), "es": _split(pattern.es, held)}
        seen: set[str] = set()
        attempts = 0
        while len(seen) < per_pattern and attempts < per_pattern * 20:
            attempts += 1
            lang = "es" if rng.random() < 0.25 else "en"
            text = _roughen(_fill(rng.choice(templates[lang]), slots[lang], rng), lang, rng)
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            out.append((text, pattern.queue, name))
    rng.shuffle(out)
    return out


def write(path: Path, data: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["text", "queue", "pattern"])
        writer.writerows(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-pattern", type=int, default=60, help="training rows per pattern (at most)")
    parser.add_argument("--holdback-per-pattern", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    train = rows(args.per_pattern, held=False, seed=args.seed)
    hold = rows(args.holdback_per_pattern, held=True, seed=args.seed)
    overlap = {t.lower() for t, _q, _p in train} & {t.lower() for t, _q, _p in hold}
    hold = [r for r in hold if r[0].lower() not in overlap]  # the yardstick never repeats a training row
    write(GENERATED_CSV, train)
    write(HOLDBACK_CSV, hold)
    print(f"{GENERATED_CSV.name}: {len(train)} rows; {HOLDBACK_CSV.name}: {len(hold)} rows "
          f"({len(PATTERNS)} patterns)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
