"""The translation catalogues are complete and up to date with the sources.

The messages are extracted here with Babel's own extraction API and the project's
babel.cfg, exactly as ``make translations`` does, so a string marked for translation
in code or a template can't be forgotten: the .pot must list it and the Spanish
catalogue must translate it (not empty, not fuzzy, same placeholders).

A second check reads the patient templates themselves: visible text that is not
marked for translation at all (a hard-coded English sentence) fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped

ROOT = Path(__file__).resolve().parents[2]
POT = ROOT / "translations" / "messages.pot"
LANGUAGES = ("es",)
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}  # as BABEL_KEYWORDS in the Makefile

#: Templates a patient or a signed-out visitor sees (base.html's staff menu excepted below).
PATIENT_TEMPLATES = sorted(
    {*(ROOT / "templates").glob("patient/*.html"), *(ROOT / "templates").glob("auth/*.html"),
     *(ROOT / "templates").glob("errors/*.html"), *(ROOT / "templates").glob("i18n/*.html"),
     *(ROOT / "templates").glob("kb/_get_help_*.html"),
     ROOT / "templates" / "kb" / "help_centre.html", ROOT / "templates" / "kb" / "article_public.html",
     ROOT / "templates" / "base.html", ROOT / "templates" / "_macros.html",
     ROOT / "templates" / "clinical" / "_patient_notice.html",  # the emergency notice on a request
     # notifications: settings, the survey (request page and mail link), files on messages
     *(ROOT / "templates" / "notify" / name for name in (
         "_attachments.html", "_csat_fields.html", "_csat_patient.html", "preferences.html", "survey.html",
         "survey_thanks.html"))}
)
#: Visible words allowed untranslated: names, language endonyms, the bilingual 911 line,
#: and base.html's staff-only menu (staff pages stay in English).
ALLOWED_LITERALS = {
    "Riverside Health", "English", "Español",
    "Si es una emergencia, llame al 911 o vaya a la sala de emergencias más cercana.",
    "Queues", "Tickets", "Knowledge base", "Notifications", "unread", "Queue members", "Dashboard", "Routing",
    "Users", "API tokens", "Macros", "Outbox", "Inbound mail", "Break-glass review", "Audit log", "On call", "System",
    "Patients", "Calendars", "SLA policies", "Retention", "Webhooks",
}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
TEXT_ATTRIBUTES = re.compile(r'\b(?:aria-label|title|alt|placeholder)="([^"{]*[A-Za-z][^"{]*)"')


def extracted_catalog() -> Catalog:
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return extracted_catalog()


def ids(catalog: Catalog) -> set:
    return {(m.id if isinstance(m.id, str) else tuple(m.id), m.context) for m in catalog if m.id}


def test_the_sources_mark_patient_strings(extracted):
    found = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    # a few from each kind of source: templates, form labels, flashes, status words, service messages
    for msgid in ("Get help", "What do you need help with?", "Your reply was sent.", "We're working on it",
                  "No request with that reference.", "Skip to content"):
        assert msgid in found


def test_the_pot_in_the_repository_is_up_to_date(extracted):
    with open(POT, "rb") as f:
        pot = read_po(f)
    missing = ids(extracted) - ids(pot)
    stale = ids(pot) - ids(extracted)
    assert not missing and not stale, (
        f"translations/messages.pot is out of date (run `make translations`): "
        f"new {sorted(map(str, missing))}, gone {sorted(map(str, stale))}"
    )


def catalogue_problems(extracted: Catalog, po_file: Path, language: str) -> list[str]:
    with open(po_file, "rb") as f:
        po = read_po(f, locale=language)
    problems = []
    for message in extracted:
        if not message.id:
            continue
        translated = po.get(message.id, context=message.context)
        label = message.id if isinstance(message.id, str) else message.id[0]
        strings = translated.string if translated is not None else None
        if translated is None:
            problems.append(f"missing: {label!r}")
        elif translated.fuzzy:
            problems.append(f"fuzzy: {label!r}")
        elif not (all(strings) if isinstance(strings, tuple) else strings):
            problems.append(f"untranslated: {label!r}")
        else:  # the same placeholders as the msgid: %(reference)s must survive translation
            wanted = set(PLACEHOLDER.findall(label))
            for string in strings if isinstance(strings, tuple) else (strings,):
                if set(PLACEHOLDER.findall(string)) != wanted:
                    problems.append(f"placeholders differ: {label!r} → {string!r}")
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_has_a_reviewed_translation(extracted, language):
    problems = catalogue_problems(extracted, ROOT / "translations" / language / "LC_MESSAGES" / "messages.po", language)
    assert not problems, f"{language} catalogue incomplete (edit the .po, then `make translations`):\n" + "\n".join(
        problems)


def test_the_completeness_check_can_fail(extracted, tmp_path):
    text = (ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    text = text.replace('msgstr "Mis solicitudes"', 'msgstr ""')
    text = text.replace('msgid "Get help"', '#, fuzzy\nmsgid "Get help"')
    text = text.replace('msgstr "Gracias. Recibimos su solicitud %(reference)s."', 'msgstr "Gracias. Recibimos su solicitud."')
    text = re.sub(r'msgid "Sign out"\nmsgstr "[^"]*"\n', "", text)
    broken = tmp_path / "messages.po"
    broken.write_text(text, encoding="utf-8")
    problems = "\n".join(catalogue_problems(extracted, broken, "es"))
    assert "untranslated: 'My requests'" in problems
    assert "fuzzy: 'Get help'" in problems
    assert "missing: 'Sign out'" in problems
    assert "Thank you. We received your request" in problems  # placeholder dropped


def visible_literals(path: Path) -> list[str]:
    """Text a template shows that is not marked for translation: what is left once
    comments, {% trans %} blocks, scripts and every Jinja expression or statement are
    taken out, outside HTML tags, plus literal aria-label/title/alt/placeholder values."""
    src = path.read_text(encoding="utf-8")
    src = re.sub(r"\{#.*?#\}", " ", src, flags=re.S)
    src = re.sub(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", " ", src, flags=re.S)
    src = re.sub(r"<script\b.*?</script>", " ", src, flags=re.S)
    src = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", src, flags=re.S)
    found = TEXT_ATTRIBUTES.findall(src)
    text = re.sub(r"<[^>]*>", " ", src).replace("&nbsp;", " ")
    for literal in ALLOWED_LITERALS:
        text = text.replace(literal, " ")
    return found + re.findall(r"[^\W\d_][\w’'-]*", text)


@pytest.mark.parametrize("path", PATIENT_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_patient_templates_show_no_unmarked_text(path):
    assert visible_literals(path) == [], "wrap visible text in {{ _('…') }} or {% trans %}"


def test_the_unmarked_text_check_can_fail(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<p>{{ _("Marked") }}</p><p>Hard-coded words</p><nav aria-label="Menu"></nav>')
    assert visible_literals(page) == ["Menu", "Hard-coded", "words"]
