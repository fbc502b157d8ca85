"""Clinical-emergency guard: does a request describe an emergency happening now?

Independent of the classifier and deliberately simple: regular expressions over a
normalised copy of the text (lower case, accents stripped, apostrophes dropped so "can't",
"cant" and "can’t" are one form, whitespace collapsed). English and Spanish.

Two kinds of rules:

``strong`` (checked over the whole text)
    A first-person or present-tense description that is an emergency whatever else the
    text says: "I'm having chest pain", "my chest hurts", "I can't breathe", "I want
    to kill myself", "no puedo respirar", "me quiero matar", "took too many pills",
    "my husband is unconscious", "la herida no para de sangrar". These trigger unless
    directly negated ("no tengo dolor de pecho").

``keyword`` (checked sentence by sentence)
    A bare symptom phrase ("chest pain", "dolor de pecho", "shortness of breath",
    "sobredosis", "derrame cerebral", "seizure", "allergic reaction"). It triggers unless
    the same sentence shows the text is *about* the symptom rather than *having* it:

    - administrative context: bill, charge, insurance, record(s), report, result(s),
      x-ray/scan, appointment, reschedule, refill, prescription, medication, form, letter,
      portal... (factura, cobro, expediente, resultados, cita, receta, medicamento...);
    - past time: last year/month/week, years ago, "in 2019", history of, "had", "was"
      (el año pasado, hace meses, tuve, antecedentes...), unless the sentence also says
      it is still going on (now, still, today, this morning; ahora, todavía, hoy...);
    - negation just before it: "no chest pain", "I don't have chest pain", "sin dolor".

So "I need to reschedule my cardiology appointment about chest pain from last year" does
not trigger (keyword + appointment/past), "my chest x-ray bill is wrong" does not either
(no symptom phrase at all), while "chest pain since this morning, what do I do" and
"I'm having chest pain, should I cancel my appointment?" do.

Rules err towards triggering: a false alarm costs a polite "if this is an emergency, call
911" and a look from a clinician; a miss can cost a life. Typos are tolerated where
cheap (breath/breathe/brething, cant/can not/cannot, suicde, sucidal, pian). The
patterns use bounded gaps only, so the scan is linear; of a very long text only the first
20,000 and last 5,000 characters are examined (~0.2 ms for a typical request, < 100 ms
worst case).

Known limits: no spelling correction beyond the listed variants, no understanding of
quoted or hypothetical text ("what should I do if someone can't breathe?" triggers), and
a keyword in a sentence that also mentions a bill/appointment is suppressed even if the
symptom is current ("chest pain now, can I get an appointment today?") unless it is
phrased in the first person ("I have chest pain...", which is a strong rule).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "EMERGENCY_MESSAGE",
    "EMERGENCY_MESSAGE_ES",
    "EmergencyMatch",
    "detect_emergency",
]

EMERGENCY_MESSAGE = "If this is an emergency, call 911 or go to the nearest emergency department."
EMERGENCY_MESSAGE_ES = "Si es una emergencia, llame al 911 o vaya a la sala de emergencias más cercana."

CATEGORIES = (
    "chest_pain",
    "breathing",
    "suicide_self_harm",
    "overdose_poisoning",
    "severe_bleeding",
    "stroke",
    "unconscious_seizure",
    "anaphylaxis",
)

# Only the start and the end of a very long text are scanned (bounded cost).
_HEAD_CHARS = 20_000
_TAIL_CHARS = 5_000


@dataclass(frozen=True)
class EmergencyMatch:
    """Which rule fired. Holds no patient text (safe to log and store)."""

    category: str
    language: str  # "en" or "es": the language of the rule that matched
    rule: str  # short rule id, e.g. "chest_pain.en.strong.1"
    strong: bool  # True: a present/first-person description; False: a bare keyword

    @property
    def message(self) -> str:
        """The emergency message in the request's language."""
        return EMERGENCY_MESSAGE_ES if self.language == "es" else EMERGENCY_MESSAGE


# ----------------------------------------------------------------------------- fragments
# Text is normalised first: lower case, no accents, no apostrophes ("i'm" -> "im",
# "she's" -> "shes", "can't" -> "cant").
_I = r"(?:i\s?am|im|i)"
_SUBJECT_NOW = r"(?:i\s?am|im|hes|shes|he\s+is|she\s+is|is|theyre|they\s+are)"
# Filler words allowed between a verb and a symptom ("having really bad chest pain").
_FILL = (
    r"(?:\s+(?:some|a|an|bad|really|very|severe|sharp|terrible|horrible|awful|crushing|intense|"
    r"sudden|strong|lot|of|little|bit|this|weird|strange|pretty|so|extreme|real|major|serious|"
    r"stabbing|squeezing|heavy|constant|mild|like|kind|and)){0,3}"
)
_FILL_ES = (
    r"(?:\s+(?:un|una|mucho|mucha|muy|fuerte|terrible|horrible|intenso|intensa|agudo|"
    r"repentino|poco|algo|de|bastante|tremendo|tremenda)){0,3}"
)
_CANT = r"(?:cant|cannot|can\s?not|cnt|couldnt|could\s+not|unable\s+to)"
_WONT = r"(?:wont|will\s+not|doesnt|does\s+not|isnt|is\s+not|not|hasnt|has\s+not)"
_BREATH = r"(?:breath(?:e|ing)?|brea?th(?:e|ing)?|breth(?:e|ing)?|brething|breating)"
_PERSON_EN = (
    r"(?:he|she|my\s+(?:husband|wife|partner|son|daughter|kid|child|baby|mom|mum|mother|"
    r"dad|father|grandma|grandmother|grandpa|grandfather|brother|sister|friend|boyfriend|"
    r"girlfriend|roommate|neighbou?r|aunt|uncle))"
)
_PERSON_ES = (
    r"(?:el|ella|mi\s+(?:esposo|esposa|marido|mujer|pareja|hijo|hija|nino|nina|bebe|mama|"
    r"madre|papa|padre|abuela|abuelo|hermano|hermana|amigo|amiga|novio|novia|tio|tia))"
)
_CHEST_PAIN_EN = r"(?:chest\s+(?:pain|pian|pains|hurts?|tightness|pressure)|pain\s+in\s+(?:my|the)\s+chest)"
_CHEST_PAIN_ES = r"(?:dolor(?:es)?\s+(?:de|en\s+el)\s+pecho|(?:presion|opresion)\s+en\s+el\s+pecho)"
_PILLS = (
    r"(?:pills?|tablets?|meds|medications?|medicines?|capsules?|sleeping\s+pills|tylenol|"
    r"advil|ibuprofen|acetaminophen|opioids?|oxy\w*|xanax|insulin)"
)
_NOT_A_TEST = r"(?!\s+(?:tests?|work|draws?|pressure|sugar|type|bank|donations?|results?|labs?|count))"

# (category, language, strength, pattern)
_RULES_SRC: list[tuple[str, str, str, str]] = [
    # --- chest pain / heart attack
    (
        "chest_pain",
        "en",
        "strong",
        rf"\b(?:{_I}|{_PERSON_EN})\s+(?:am\s+|is\s+)?(?:having|getting|experiencing|feeling|got|have|has)"
        rf"{_FILL}\s+{_CHEST_PAIN_EN}",
    ),
    (
        "chest_pain",
        "en",
        "strong",
        r"\bmy\s+chest\s+(?:hurts|is\s+hurting|feels\s+(?:tight|heavy|like)|is\s+(?:tight|killing))",
    ),
    ("chest_pain", "en", "strong", rf"\b{_SUBJECT_NOW}\s+having\s+a\s+heart\s+attack\b"),
    ("chest_pain", "en", "keyword", rf"\b{_CHEST_PAIN_EN}\b"),
    ("chest_pain", "en", "keyword", r"\bheart\s+attack\b"),
    ("chest_pain", "es", "strong", r"\bme\s+duele(?:\s+mucho)?\s+el\s+pecho\b|\bme\s+aprieta\s+el\s+pecho\b"),
    ("chest_pain", "es", "strong", rf"\b(?:tengo|siento|estoy\s+con|tiene|siente){_FILL_ES}\s+{_CHEST_PAIN_ES}"),
    (
        "chest_pain",
        "es",
        "strong",
        r"\b(?:me\s+esta\s+dando|le\s+esta\s+dando|creo\s+que\s+(?:tengo|es|me\s+da))\s+un\s+"
        r"(?:infarto|ataque\s+al\s+corazon|ataque\s+cardiaco)",
    ),
    ("chest_pain", "es", "keyword", rf"\b{_CHEST_PAIN_ES}\b"),
    ("chest_pain", "es", "keyword", r"\b(?:infarto|ataque\s+al\s+corazon|ataque\s+cardiaco)\b"),
    # --- breathing
    ("breathing", "en", "strong", rf"\b{_CANT}\s+(?:really\s+)?(?:catch\s+my\s+)?{_BREATH}\b"),
    (
        "breathing",
        "en",
        "strong",
        rf"\b{_PERSON_EN}\s+(?:is\s+|s\s+)?(?:not|isnt|stopped|cant|cannot|can\s?not)\s+{_BREATH}",
    ),
    (
        "breathing",
        "en",
        "strong",
        rf"\b(?:{_SUBJECT_NOW}|were)\s+(?:having\s+)?(?:trouble|difficulty|struggling)\s+(?:to\s+|with\s+)?"
        rf"{_BREATH}\b|\b(?:its|it\s+is)\s+(?:really\s+|so\s+|very\s+)?hard\s+to\s+{_BREATH}\b",
    ),
    (
        "breathing",
        "en",
        "strong",
        rf"\b(?:{_SUBJECT_NOW})\s+(?:choking|suffocating|gasping\s+for\s+air|turning\s+blue)\b",
    ),
    ("breathing", "en", "strong", r"\b(?:lips|face)\s+(?:are|is|turning)\s+(?:blue|purple)\b"),
    (
        "breathing",
        "en",
        "keyword",
        rf"\bshort(?:ness)?\s+of\s+breath\b|\b(?:trouble|difficulty|hard\s+to)\s+{_BREATH}\b"
        r"(?!\s+(?:tests?|treatments?|machines?|masks?))",
    ),
    ("breathing", "es", "strong", r"\bno\s+(?:puedo|puede|podemos)\s+respirar\b"),
    ("breathing", "es", "strong", rf"\b{_PERSON_ES}\s+no\s+(?:esta\s+)?respira(?:ndo)?\b"),
    (
        "breathing",
        "es",
        "strong",
        r"\bme\s+(?:falta|cuesta)\s+(?:el\s+aire|respirar|la\s+respiracion)\b"
        r"|\bme\s+(?:estoy\s+)?ahog(?:o|ando)\b|\bse\s+(?:esta\s+)?ahog(?:a|ando)\b",
    ),
    ("breathing", "es", "strong", r"\blabios\s+(?:morados|azules)\b"),
    (
        "breathing",
        "es",
        "keyword",
        r"\b(?:dificultad|problemas?)\s+para\s+respirar\b|\bfalta\s+de\s+aire\b|\bno\s+respira\b",
    ),
    # --- suicide / self-harm: explicit intent is never explained away by context
    (
        "suicide_self_harm",
        "en",
        "strong",
        r"\b(?:kill|killing)\s+my\s*self\b|\b(?:harm|harming)\s+my\s*self\b"
        r"|\b(?:want|wanna|going|gonna|urge|urges|thinking\s+about|thoughts\s+of|might|keep|started)"
        r"\s+(?:to\s+)?(?:hurt|hurting|cut|cutting)\s+my\s*self\b|\bcutting\s+my\s*self\b"
        r"|\bend(?:ing)?\s+(?:my\s+(?:own\s+)?life|it\s+all)\b|\btake\s+my\s+(?:own\s+)?life\b",
    ),
    (
        "suicide_self_harm",
        "en",
        "strong",
        rf"\b{_I}\s+(?:just\s+|really\s+|honestly\s+)?(?:want|wanna|going|gonna|plan|planning|ready)"
        r"\s+(?:to\s+)?die\b"
        r"|\bwish\s+i\s+(?:was|were)\s+dead\b|\bbetter\s+off\s+dead\b"
        r"|\bno\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|going\s+on)\b"
        r"|\bdont\s+want\s+to\s+(?:live|be\s+alive|wake\s+up)\b",
    ),
    (
        "suicide_self_harm",
        "en",
        "strong",
        rf"\b{_I}\s+(?:feel(?:ing)?\s+)?(?:really\s+|very\s+|so\s+)?(?:suicidal|sucidal|suicdal)\b"
        r"|\bsuicidal\s+thoughts\b|\bthoughts\s+of\s+suicide\b"
        r"|\b(?:thinking|thought)\s+(?:about|of)\s+(?:suicide|suicde|killing\s+myself|ending\s+it)",
    ),
    ("suicide_self_harm", "en", "keyword", r"\b(?:suicide|suicidal|suicde|sucidal|self\s*-?\s*harm(?:ing)?)\b"),
    (
        "suicide_self_harm",
        "es",
        "strong",
        r"\b(?:quiero|quisiera|voy\s+a|pienso|pensando\s+en|ganas\s+de|me\s+quiero|me\s+voy\s+a)\s+"
        r"(?:suicidar(?:me)?|matarme|morir(?:me)?|quitarme\s+la\s+vida|hacerme\s+dano|cortarme)\b",
    ),
    (
        "suicide_self_harm",
        "es",
        "strong",
        r"\bme\s+quiero\s+(?:matar|morir|suicidar)\b|\bquitarme\s+la\s+vida\b"
        r"|\bno\s+quiero\s+(?:vivir|seguir\s+viviendo|despertar)\b|\bhacerme\s+dano\b"
        r"|\bpensamientos\s+suicidas\b|\bpensando\s+en\s+(?:el\s+)?suicidio\b",
    ),
    ("suicide_self_harm", "es", "keyword", r"\b(?:suicidio|suicida|suicidarme|autolesion(?:es)?)\b"),
    # --- overdose / poisoning
    (
        "overdose_poisoning",
        "en",
        "strong",
        rf"\b(?:took|taken|take|swallowed|ate|drank)\s+(?:way\s+)?(?:too\s+many|too\s+much|a\s+handful\s+of|"
        rf"a\s+bunch\s+of|a\s+whole\s+bottle\s+of|the\s+whole\s+bottle\s+of)(?:\s+[a-z]+){{0,2}}\s+{_PILLS}"
        r"|\b(?:took|taken|swallowed|ate)\s+(?:a|the)\s+(?:whole|entire)\s+(?:bottle|pack)\b",
    ),
    (
        "overdose_poisoning",
        "en",
        "strong",
        r"\b(?:drank|swallowed|ate|drinking|swallowing)\s+(?:some\s+)?(?:bleach|antifreeze|poison|"
        r"detergent|laundry\s+pods?|drain\s+cleaner|rat\s+poison)"
        r"|\b(?:i|he|she|they|my\s+[a-z]+)\s+(?:just\s+)?(?:overdosed|oded)\b"
        r"|\b(?:i\s?m|im|i\s+am|is|hes|shes)\s+(?:overdosing|poisoned)\b"
        r"|\bpoison\s+control\b",
    ),
    ("overdose_poisoning", "en", "keyword", r"\b(?:overdose|overdosed|overdosing|(?<!food )poisoning)\b"),
    (
        "overdose_poisoning",
        "es",
        "strong",
        r"\b(?:me\s+)?(?:tome|tomo|se\s+tomo|trague|se\s+trago|me\s+trague)\s+"
        r"(?:todas\s+(?:las|mis|sus)\s+pastillas|demasiadas|un\s+monton\s+de|un\s+frasco|el\s+frasco|"
        r"todo\s+el\s+frasco|muchas\s+pastillas)"
        r"|\b(?:tomo|tome|bebio|bebi|trago)\s+(?:cloro|veneno|lejia|anticongelante)"
        r"|\bse\s+(?:intoxico|envenen(?:o|a))|\bme\s+(?:intoxique|envenene)",
    ),
    ("overdose_poisoning", "es", "keyword", r"\b(?:sobredosis|envenenamiento)\b"),
    # --- severe bleeding
    (
        "severe_bleeding",
        "en",
        "strong",
        rf"\bbleeding\s+(?:that\s+|which\s+)?{_WONT}\s+stop"
        r"|\b(?:cant|cannot|can\s?not)\s+(?:get\s+(?:it|the\s+bleeding)\s+to\s+)?stop\s+(?:the\s+)?bleed"
        r"|\b(?:bleeding|bleeds)\s+(?:a\s+lot|heavily|badly|everywhere|profusely|so\s+much|like\s+crazy|"
        r"nonstop|non\s+stop)"
        rf"|\b(?:lots|so\s+much|a\s+lot|pool|puddle)\s+of\s+blood\b{_NOT_A_TEST}"
        r"|\b(?:coughing|throwing|vomiting|puking)\s+(?:up\s+)?blood\b"
        r"|\b(?:wont|will\s+not|doesnt|does\s+not)\s+stop\s+bleeding\b",
    ),
    ("severe_bleeding", "en", "keyword", r"\b(?:hemorrhag(?:e|ing)|haemorrhag(?:e|ing))\b"),
    (
        "severe_bleeding",
        "es",
        "strong",
        r"\bsangrado\s+que\s+no\s+(?:para|se\s+detiene|se\s+quita)"
        r"|\bno\s+(?:para|deja)\s+de\s+sangrar\b"
        r"|\b(?:estoy|esta)\s+sangrando\s+(?:mucho|demasiado|sin\s+parar)"
        r"|\b(?:sangra|sangro)\s+(?:mucho|demasiado|sin\s+parar)"
        r"|\bmucha\s+sangre\b|\b(?:vomitando|tosiendo|escupiendo)\s+sangre\b"
        r"|\bno\s+(?:puedo|podemos)\s+(?:parar|detener)\s+(?:el\s+)?sangrado\b",
    ),
    ("severe_bleeding", "es", "keyword", r"\bhemorragia\b"),
    # --- stroke
    (
        "stroke",
        "en",
        "strong",
        rf"\b{_SUBJECT_NOW}\s+having\s+a\s+stroke\b"
        r"|\b(?:think|afraid|scared|worried|might\s+be|may\s+be)\b(?:\s+[a-z]+){0,3}\s+having\s+a\s+stroke\b",
    ),
    (
        "stroke",
        "en",
        "strong",
        r"\b(?:face|mouth|smile)\s+(?:is\s+)?(?:drooping|droopy|droops)"
        r"|\bslurring\s+(?:his|her|my|their)?\s*(?:words|speech)"
        r"|\b(?:cant|cannot|can\s?not)\s+(?:move|feel|lift)\s+(?:my|his|her)\s+(?:left|right)\s+"
        r"(?:arm|leg|side)"
        r"|\b(?:one|left|right)\s+side\s+of\s+(?:my|his|her)\s+(?:body|face)\s+(?:is\s+|went\s+|feels\s+)?"
        r"(?:numb|weak|paralyzed|drooping)",
    ),
    ("stroke", "en", "keyword", r"\bstroke\s+symptoms\b|\bsigns\s+of\s+a\s+stroke\b|\bslurred\s+speech\b"),
    (
        "stroke",
        "es",
        "strong",
        r"\b(?:me\s+esta\s+dando|le\s+esta\s+dando|creo\s+que\s+(?:tengo|tiene|es|le\s+da))\s+un\s+"
        r"(?:derrame|ataque\s+cerebral|embolia|infarto\s+cerebral)"
        r"|\b(?:cara|boca)\s+(?:torcida|caida|chueca)"
        r"|\bse\s+le\s+(?:torcio|cayo)\s+la\s+(?:cara|boca)"
        r"|\bno\s+(?:puede|puedo)\s+(?:mover|sentir)\s+(?:el|la|un|una|mi|su)\s+(?:brazo|pierna|lado)"
        r"|\bhabla\s+(?:raro|arrastrando|enredado)|\barrastra\s+las\s+palabras",
    ),
    ("stroke", "es", "keyword", r"\b(?:derrame\s+cerebral|ataque\s+cerebral|embolia|infarto\s+cerebral)\b"),
    # --- unconscious / seizure
    (
        "unconscious_seizure",
        "en",
        "strong",
        rf"\b{_PERSON_EN}\s+(?:is\s+|s\s+|just\s+)?(?:unconscious|unresponsive(?!\s+to)|"
        r"not\s+responding(?!\s+to)|not\s+waking\s+up|wont\s+wake\s+up|will\s+not\s+wake\s+up|"
        r"having\s+a\s+seizure|seizing|convulsing|passed\s+out\s+and|collapsed\s+and)",
    ),
    (
        "unconscious_seizure",
        "en",
        "strong",
        r"\b(?:i\s?m|im|i\s+am|is|hes|shes)\s+(?:having\s+a\s+seizure|seizing|convulsing)\b"
        r"|\bcant\s+wake\s+(?:him|her|them)\s+up\b|\bfound\s+(?:him|her|them)\s+unconscious\b"
        r"|\bjust\s+(?:passed\s+out|collapsed|fainted)\b",
    ),
    ("unconscious_seizure", "en", "keyword", r"\b(?:unconscious|seizure|seizures|convulsions?|passed\s+out|fainted)\b"),
    (
        "unconscious_seizure",
        "es",
        "strong",
        rf"\b{_PERSON_ES}\s+(?:esta\s+)?(?:inconsciente|no\s+responde(?!\s+(?:a|al|mis|los|las|el|la|"
        r"los)\b)|no\s+despierta|esta\s+convulsionando|convulsiona|tiene\s+(?:una\s+)?convulsion)",
    ),
    (
        "unconscious_seizure",
        "es",
        "strong",
        r"\b(?:esta|estoy)\s+(?:convulsionando|inconsciente)\b"
        r"|\bno\s+(?:la|lo|le)\s+(?:puedo|podemos)\s+despertar\b"
        r"|\bperdio\s+el\s+conocimiento\s+y\b|\bse\s+desmayo\s+y\s+no\b",
    ),
    (
        "unconscious_seizure",
        "es",
        "keyword",
        r"\b(?:convulsion(?:es)?|inconsciente|se\s+desmayo|perdio\s+el\s+conocimiento)\b",
    ),
    # --- anaphylaxis / severe allergic reaction
    (
        "anaphylaxis",
        "en",
        "strong",
        r"\b(?:throat|airway)\s+(?:is\s+|feels\s+)?(?:closing|swelling|swollen|tight|closing\s+up)"
        r"|\b(?:tongue|lips?)\s+(?:is\s+|are\s+)?(?:swelling|swollen|blowing\s+up)"
        r"|\b(?:i\s?m|im|i\s+am|is|hes|shes)\s+having\s+(?:an\s+|a\s+(?:severe|bad)\s+)?"
        r"(?:allergic\s+reaction|anaphyla)"
        r"|\b(?:just\s+)?(?:used|had\s+to\s+use|gave\s+(?:him|her|me))\s+(?:my|his|her|an|the)\s+"
        r"epi\s*-?\s*pen\b(?!\s+(?:refill|prescription))",
    ),
    (
        "anaphylaxis",
        "en",
        "keyword",
        r"\banaphyla(?:xis|ctic)\b|\ballergic\s+reaction\b|\bface\s+(?:is\s+)?(?:swelling|swollen)\b",
    ),
    (
        "anaphylaxis",
        "es",
        "strong",
        r"\bse\s+(?:me|le)\s+(?:esta\s+)?(?:cierra|cerrando|hincha|hinchando)\s+la\s+(?:garganta|lengua)"
        r"|\b(?:garganta|lengua|labios)\s+(?:muy\s+)?(?:hinchad[ao]s?|cerrada)"
        r"|\b(?:tengo|tiene|estoy\s+teniendo)\s+una\s+reaccion\s+alergica\s+(?:grave|fuerte|severa)",
    ),
    ("anaphylaxis", "es", "keyword", r"\banafilaxi[as]\b|\bchoque\s+anafilactico\b|\breaccion\s+alergica\b"),
]

_RULES = [
    (category, lang, strength == "strong", f"{category}.{lang}.{strength}.{i}", re.compile(src))
    for i, (category, lang, strength, src) in enumerate(_RULES_SRC)
]

# Context that makes a bare keyword a reference rather than a description of now.
_ADMIN = re.compile(
    r"\b(?:bills?|billing|billed|charged?|charges|invoice|statement|payment|paid|pay|copay|"
    r"insurance|claims?|coverage|covered|deductible|refund|price|cost|costs|"
    r"records?|report|reports|results?|chart|documentation|paperwork|forms?|letter|"
    r"x\s?-?\s?rays?|scan|mri|ct|ekg|ecg|echo|tests?|labs?|imaging|"
    r"appointments?|appt|reschedule|rescheduling|schedule|scheduled|cancel|follow\s?-?\s?up|"
    r"referral|consult|clinic|class|program|education|brochure|pamphlet|"
    r"refills?|prescriptions?|prescribed|medications?|meds|pharmacy|inhaler|epi\s?-?\s?pens?|"
    r"portal|website|app|login|password|account|update|list|disorder|epilepsy|diagnosis|"
    r"diagnosed|condition|"
    r"factura|facturas|cobro|cobraron|cargo|pago|pagar|seguro|reembolso|"
    r"expediente|registros?|informe|reporte|resultados?|radiografia|examen|estudio|"
    r"cita|citas|reprogramar|cancelar|receta|recetas|medicamentos?|medicina|farmacia|"
    r"formulario|carta|constancia|cuenta|diagnostico|lista)\b"
)
_PAST = re.compile(
    r"\b(?:last\s+(?:year|month|week|time|summer|winter|spring|fall)|years?\s+ago|months?\s+ago|"
    r"weeks?\s+ago|in\s+(?:19|20)\d\d|back\s+in|history\s+of|had|was|were|previous|previously|"
    r"used\s+to|past|"
    r"el\s+ano\s+pasado|el\s+mes\s+pasado|la\s+semana\s+pasada|hace\s+(?:\w+\s+)?(?:anos|meses|"
    r"semanas)|tuve|tuvo|antecedentes|historial|en\s+(?:19|20)\d\d)\b"
)
# ... unless the sentence also says it is still going on.
_PRESENT = re.compile(
    r"\b(?:right\s+now|now|still|currently|this\s+morning|tonight|today|ahora|todavia|aun|"
    r"sigue|sigo|hoy|esta\s+manana|esta\s+noche)\b"
)
_NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|dont|didnt|never|without|denies|deny|sin|nunca|tampoco|ni)"
    r"(?:\s+(?:have|had|any|feel|experience|experiencing|having|tengo|siento|hay|me)){0,2}\s*$"
)

_SENTENCE_END = re.compile(r"[.!?;\n]+|\s-\s|,\s+(?:but|pero)\s+")
_APOSTROPHES = re.compile(r"['’`´‘]")
_NON_TEXT = re.compile(r"[^a-z0-9.!?;,\n -]+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def _normalise(text: str) -> str:
    if len(text) > _HEAD_CHARS + _TAIL_CHARS:
        text = text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _APOSTROPHES.sub("", text)
    text = _NON_TEXT.sub(" ", text)
    return _SPACES.sub(" ", text)


def _negated(text: str, start: int) -> bool:
    return _NEGATION_BEFORE.search(text[max(0, start - 40) : start]) is not None


def _keyword_applies(sentence: str, start: int) -> bool:
    """A bare keyword counts unless the sentence is about a bill/record/appointment/…,
    about the past (and not also about now), or the keyword is negated."""
    if _ADMIN.search(sentence):
        return False
    if _PAST.search(sentence) and not _PRESENT.search(sentence):
        return False
    return not _negated(sentence, start)


def detect_emergency(text: str) -> EmergencyMatch | None:
    """The first emergency rule ``text`` matches, strong rules first; ``None`` if none.

    Never raises for a ``str`` (or ``None``); never returns patient text.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    normalised = _normalise(text)
    keyword_hit: EmergencyMatch | None = None
    sentences: list[str] | None = None
    for category, lang, strong, rule_id, pattern in _RULES:
        if strong:
            for found in pattern.finditer(normalised):
                if not _negated(normalised, found.start()):
                    return EmergencyMatch(category, lang, rule_id, strong=True)
        elif keyword_hit is None and pattern.search(normalised) is not None:
            if sentences is None:
                sentences = [p.strip() for p in _SENTENCE_END.split(normalised) if p.strip()]
            for sentence in sentences:
                if any(_keyword_applies(sentence, m.start()) for m in pattern.finditer(sentence)):
                    keyword_hit = EmergencyMatch(category, lang, rule_id, strong=False)
                    break
    return keyword_hit
