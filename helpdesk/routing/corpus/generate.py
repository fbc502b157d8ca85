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
sign_up *                 account-access  registering, activating, codes, getting back in
money_back *              billing         refunds, reimbursement, reporting a wrong charge
statements *              billing         seeing, downloading, paying a bill or statement
see_a_provider *          scheduling      seeing, finding or switching a provider; visits
talk_to_someone *         general         a person, a call back, a complaint, directions
rx_asks *                 prescriptions   refills, renewals, pharmacies, doses
records_asks *            records         copies, sending, corrections
tech_asks *               technical       the app, video visits, uploads, bugs
========================  ==============  ==================================================

Patterns marked * are *asks*: a verb phrase ("request a refund of {amount}") put into one
of the frames people wrap a request in ("how do I …", "I need help to …", "no sé cómo
…"), so the model learns the ask apart from the frame. Some templates of one queue name
another queue's things on purpose (records sent *to a cardiologist*, a bill *from the
dermatologist*) so that a specialty or a medicine is evidence, not a verdict.

The held-back slice is built from templates, frames and slot values the training rows
never use (every such list is split in two by position: the last quarter of each list is
held back), so its figures show how the model does on phrasings and words it has not
seen, per pattern (``flask routing evaluate --holdback``). A list that has been split is
never edited in place: growing it would move one of its trained templates into the
held-back slice, where the models already trained on it would look better than they are
(the retrain gate compares against them). New templates for an existing pattern go into
its ``more_en``/``more_es``, which are split on their own; new frames, slot values and
patterns go into new lists. No row is copied from any
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
    """A queue's phrasings. With ``framed``, each template is an ask in the infinitive
    ("request a refund") that is put into a frame people wrap asks in ("how do I …",
    "I need help to …"); frames are split for the held-back slice like everything else."""

    queue: str
    en: tuple[str, ...]
    es: tuple[str, ...]
    framed: bool = False
    # Templates added to a pattern after its lists were first split: they are split on
    # their own (fewer than HOLD: all trained on), so adding one never moves an earlier
    # template between the trained and the held-back slice (a model trained before must
    # not have seen the held-back rows).
    more_en: tuple[str, ...] = ()
    more_es: tuple[str, ...] = ()


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
    ), more_en=(
        "when can I come in for a {visit}",
        "do you have time {day} for a {visit}",
        "is my {visit} still on for {day}",
        "what time is my {visit}",
        "I'm running late for my {visit}",
        "I need a different time for my {visit}",
        "any slots {day}? need a {visit}",
        "how soon can {who} be seen",
        "I got a text about my {visit} but the date is wrong",
        "the doctor wants to see me again in two weeks, how do I set that up",
    ), more_es=(
        "cuándo puedo ir a una {visit}",
        "tienen espacio {day} para una {visit}",
        "a qué hora es mi {visit}",
        "voy a llegar tarde a mi {visit}",
        "necesito otro horario para mi {visit}",
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
    ), more_en=(
        "I was charged {amount} for {med} at the pharmacy",
        "the pharmacy bill for {med} is wrong",
        "I was billed twice for my visit with the {provider}",
        "why is the {provider} charging me {amount}",
    ), more_es=(
        "me cobraron {amount} por {med} en la farmacia",
        "el {provider} me cobró dos veces",
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
    ), more_en=(
        "does {insurance} cover a visit with a {provider}",
    ), more_es=(
        "mi seguro cubre la consulta con el {provider}",
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
    ), more_en=(
        "the video visit with my {provider} won't connect",
    ), more_es=(
        "no conecta la videoconsulta con mi {provider}",
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
    ), more_en=(
        "please send my {record} to my {provider}",
        "my {provider} needs my {record} before the {visit}",
    ), more_es=(
        "manden mi {record} a mi {provider}",
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
    ), more_en=(
        "my {provider} was supposed to send in {med}",
        "my {provider} changed my dose of {med} and the pharmacy doesn't have it",
    ), more_es=(
        "mi {provider} no ha mandado la receta de {med}",
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
    ), more_en=(
        "where is the {provider} office",
        "what floor is the {provider} on",
    ), more_es=(
        "dónde está el consultorio del {provider}",
    )),
}


# Asks in the infinitive, framed the ways people wrap a request (see FRAMES_EN/ES). Each
# queue's asks are worded the way patients put them, not the way the hospital names things.
PATTERNS.update({
    "sign_up": Pattern("account-access", (
        "sign up for the patient portal",
        "create an account on the portal",
        "register for the portal",
        "finish setting up my portal account",
        "activate my new account",
        "report a problem with my registration",
        "get the activation code for my new account",
        "open a portal account for {who}",
        "enroll in the online portal",
        "fix an error I get when signing up",
        "make an account when it says my email is already in use",
        "get an access code to register",
        "change the PIN for my account",
        "recover my username",
        "get back into my account",
        "restore access to my profile",
        "link {who}'s account to mine",
        "turn off two step verification",
        "update the phone number my codes go to",
        "delete my portal account",
    ), (
        "registrarme en el portal",
        "crear una cuenta en el portal",
        "activar mi cuenta nueva",
        "reportar un problema con mi registro",
        "recuperar mi usuario",
        "abrir una cuenta para {who}",
        "recibir el código de activación",
        "cambiar el número donde me llegan los códigos",
        "volver a entrar a mi cuenta",
    ), framed=True),
    "money_back": Pattern("billing", (
        "get a refund for {med} I never picked up",
        "get a refund",
        "get my money back for the {visit}",
        "request a refund of {amount}",
        "get reimbursed for {amount} I paid",
        "claim back the {amount} I was overcharged",
        "report an error with my payment",
        "report a charge of {amount} I don't recognize",
        "dispute a charge on my {card}",
        "get the duplicate charge reversed",
        "check the status of my refund",
        "get compensated for a charge that was wrong",
        "get credit for the {amount} I overpaid",
        "cancel a payment I made by mistake",
        "stop the hospital charging my {card}",
        "find out why I was charged {amount}",
        "get a refund put back on my {card}",
    ), (
        "que me devuelvan lo que pagué por {med}",
        "pedir un reembolso",
        "recuperar mi dinero de la {visit}",
        "reportar un error con mi pago",
        "disputar un cargo en mi {card}",
        "saber cuándo llega mi reembolso",
        "saber por qué me cobraron {amount}",
        "cancelar un pago que hice por error",
        "que me devuelvan los {amount}",
    ), framed=True),
    "statements": Pattern("billing", (
        "see my {thing}",
        "download my {thing}",
        "get a copy of my {thing}",
        "understand the charges on my {thing}",
        "check how much I owe",
        "find my {thing} number",
        "look at my latest {thing}",
        "get an itemized {thing}",
        "pay my {thing} online",
        "pay the {amount} I owe",
        "get a receipt for my payment",
        "change the {card} I pay with",
        "set up automatic payments",
        "pay {who}'s {thing}",
        "get my {thing} sent by mail instead of email",
        "find out what my insurance paid on the {thing}",
    ), (
        "ver mi {thing}",
        "descargar mi {thing}",
        "saber cuánto debo",
        "pagar mi {thing} en línea",
        "entender los cargos de mi {thing}",
        "pedir un recibo de mi pago",
        "cambiar la {card} con la que pago",
        "recibir la {thing} por correo",
    ), framed=True),
    "see_a_provider": Pattern("scheduling", (
        "see a {provider} {day}",
        "book an appointment with a {provider}",
        "make a {visit} for {who}",
        "find a {provider} {place}",
        "find a {provider} who takes {insurance}",
        "get an appointment {day}",
        "move my {visit} to {day}",
        "cancel my {visit}",
        "choose a new primary care doctor",
        "switch to another {provider}",
        "get on the waiting list for a {provider}",
        "check when my next {visit} is",
        "schedule a {visit}",
        "get in to see a {provider} sooner",
        "set up a {visit} with a {provider} {place}",
        "find out which {provider}s are taking new patients",
    ), (
        "ver a un {provider} {day}",
        "sacar una {visit} con el {provider}",
        "hacer una {visit} para {who}",
        "encontrar un {provider} {place}",
        "cambiar mi {visit} para {day}",
        "cancelar mi {visit}",
        "cambiar de médico de cabecera",
        "saber cuándo es mi próxima {visit}",
    ), framed=True),
    "talk_to_someone": Pattern("general", (
        "talk to a real person",
        "speak with someone in customer service",
        "reach a human",
        "get someone to call me back",
        "talk to a representative",
        "contact the front desk",
        "leave feedback about my visit",
        "make a complaint about the staff",
        "send a thank you to my nurse",
        "find the visiting hours",
        "get directions to the hospital",
        "find out where to park",
        "get an interpreter for my visit",
        "find the phone number for the main office",
        "ask about something I left at the hospital",
        "find out what the hospital's policies are",
    ), (
        "hablar con una persona",
        "hablar con alguien de servicio al cliente",
        "que alguien me llame",
        "poner una queja",
        "dejar un comentario sobre mi visita",
        "saber el horario de visitas",
        "conseguir un intérprete",
        "saber dónde estacionarme",
    ), framed=True),
    "rx_asks": Pattern("prescriptions", (
        "get my {provider} to send {med} to the pharmacy",
        "refill {med}",
        "get more {med}",
        "renew my prescription for {med}",
        "move my {med} prescription to another pharmacy",
        "get the doctor to approve my {med} refill",
        "check if my {med} is ready at the pharmacy",
        "get a prior authorization for {med}",
        "change my dose of {med}",
        "get a cheaper version of {med}",
        "get a 90 day supply of {med}",
    ), (
        "que mi {provider} mande {med} a la farmacia",
        "resurtir {med}",
        "renovar la receta de {med}",
        "mandar mi receta de {med} a otra farmacia",
        "saber si mi {med} ya está lista",
        "conseguir más {med}",
    ), framed=True),
    "records_asks": Pattern("records", (
        "send my {record} to my {provider}",
        "get a copy of my {record}",
        "send my {record} to another doctor",
        "see my {record} online",
        "view {who}'s {record} in the portal",
        "look at my {record} on my {device}",
        "correct a mistake in my {record}",
        "download {who}'s {record}",
        "get my {record} on a CD",
        "have my {record} sent to my lawyer",
        "find my {record} from last year",
    ), (
        "mandar mi {record} a mi {provider}",
        "conseguir una copia de mi {record}",
        "mandar mi {record} a otro doctor",
        "ver mi {record} en línea",
        "ver el {record} de {who} en el portal",
        "corregir un error en mi {record}",
    ), framed=True),
    "tech_asks": Pattern("technical", (
        "get the app to work on my {device}",
        "join my video visit",
        "upload a document to the portal",
        "fix the error I get on the portal",
        "turn on notifications on my {device}",
        "get the camera working for my video visit",
        "report a bug in the app",
        "open the portal on my {device}",
    ), (
        "hacer que la aplicación funcione en mi {device}",
        "entrar a mi videoconsulta",
        "subir un documento al portal",
        "arreglar el error que me sale en el portal",
    ), framed=True),
})

FRAMES_EN = [
    "how do I {ask}", "I need help to {ask}", "can you help me {ask}", "I don't know how to {ask}",
    "where can I {ask}", "I want to {ask}", "I'd like to {ask}", "is it possible to {ask}",
    "what do I have to do to {ask}", "help me {ask}", "I'm trying to {ask}", "need to {ask}",
    "could you tell me how to {ask}", "I have to {ask}", "how can I {ask}", "I would like to {ask}",
    "who can help me {ask}", "I've been trying to {ask}", "what's the best way to {ask}", "please {ask}",
    "I wanna {ask}", "can I {ask}", "trying to {ask} but don't know how", "how would I {ask}",
]
FRAMES_ES = [
    "qué debo hacer para {ask}", "debo {ask}, cómo lo hago",  # deber: "I must" as often as "I owe"
    "cómo puedo {ask}", "necesito ayuda para {ask}", "quiero {ask}", "me pueden ayudar a {ask}",
    "no sé cómo {ask}", "dónde puedo {ask}", "es posible {ask}", "tengo que {ask}", "quisiera {ask}",
    "qué hago para {ask}", "necesito {ask}", "cómo hago para {ask}",
]

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


def _split_more(values: Sequence[str], held: bool) -> list[str]:
    """A pattern's added templates: split like any list from ``HOLD`` of them on; fewer
    are all trained on (held back, a lone template would never be learned at all)."""
    if len(values) < HOLD:
        return [] if held else list(values)
    return _split(values, held)


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
        templates = {"en": _split(pattern.en, held) + _split_more(pattern.more_en, held),
                     "es": _split(pattern.es, held) + _split_more(pattern.more_es, held)}
        frames = {"en": _split(FRAMES_EN, held), "es": _split(FRAMES_ES, held)}
        seen: set[str] = set()
        attempts = 0
        while len(seen) < per_pattern and attempts < per_pattern * 20:
            attempts += 1
            lang = "es" if rng.random() < 0.25 else "en"
            text = _fill(rng.choice(templates[lang]), slots[lang], rng)
            if pattern.framed:
                text = rng.choice(frames[lang]).format(ask=text)
            text = _roughen(text, lang, rng)
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
