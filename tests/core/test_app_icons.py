"""The favicon, the icons and the web-app manifest ("add to home screen"): served from
here (no CDN) to everyone, named in the visitor's language; the files in the repository
are what helpdesk.icons draws. And the patient pages' header offers 911 and the help
desk's number as tap-to-call links, while the staff header stays as it was."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from helpdesk import icons
from helpdesk.templating import tel_uri
from tests.factories import login

STATIC_ICONS = Path(icons.__file__).resolve().parent / "static" / "icons"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.pure
@pytest.mark.parametrize("name", [n for n in icons.NAMES if n != "icon-512.png"])  # 512 px takes seconds to draw
def test_the_icon_files_are_what_the_script_draws(name):
    assert (STATIC_ICONS / name).read_bytes() == icons.draw(name), "run: python -m helpdesk.icons"


@pytest.mark.pure
def test_tel_uri_keeps_digits_and_a_leading_plus():
    assert tel_uri("(555) 010-0100") == "tel:5550100100"
    assert tel_uri(" +1 312 555 0142 ") == "tel:+13125550142"


def test_favicon_is_served_here(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200 and resp.mimetype == "image/vnd.microsoft.icon"
    data = resp.get_data()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, len(icons.ICO_SIZES))
    for i, size in enumerate(icons.ICO_SIZES):
        width, height, *_, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i: 22 + 16 * i])
        assert (width, height) == (size, size)
        assert png_size(data[offset:offset + length]) == (size, size)


def test_manifest_names_the_app_and_its_local_icons(client):
    resp = client.get("/manifest.webmanifest", headers={"Accept-Language": "en-US"})
    assert resp.status_code == 200 and resp.mimetype == "application/manifest+json"
    manifest = resp.get_json(force=True)
    assert manifest["name"] == "Riverside Health help desk" and manifest["short_name"] == "Help desk"
    assert (manifest["start_url"], manifest["display"], manifest["theme_color"]) == ("/", "standalone", "#0b5394")
    sizes = set()
    for icon in manifest["icons"]:
        assert icon["src"].startswith("/static/icons/")  # served here, not from a CDN
        got = client.get(icon["src"])
        assert got.status_code == 200 and got.mimetype == icon["type"]
        if icon["type"] == "image/png":
            width, height = png_size(got.get_data())
            assert icon["sizes"] == f"{width}x{height}"
            sizes.add(width)
        got.close()
    assert {192, 512} <= sizes  # what browsers want before they offer to install


def test_manifest_speaks_the_visitors_language(client, patient):
    spanish = client.get("/manifest.webmanifest", headers={"Accept-Language": "es-US,es"}).get_json(force=True)
    assert (spanish["name"], spanish["short_name"], spanish["lang"]) == (
        "Servicio de ayuda de Riverside Health", "Servicio de ayuda", "es")


def test_every_page_links_the_icons_and_the_manifest(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'rel="manifest" href="/manifest.webmanifest"' in html
    assert 'rel="icon" href="/favicon.ico"' in html and 'href="/static/icons/icon.svg" type="image/svg+xml"' in html


def test_patient_header_calls_911_and_the_help_desk(app, client, patient):
    number = app.config["HELPDESK"].helpdesk_phone
    href = "tel:" + re.sub(r"\D", "", number)
    for html in (client.get("/login").get_data(as_text=True),
                 login(client, patient).get("/requests").get_data(as_text=True)):
        header = html.split("<header", 1)[1].split("</header>", 1)[0]
        assert 'href="tel:911"' in header
        assert f'href="{href}"' in header and number in header
        assert "site-menu.js" in html


def test_staff_header_is_unchanged(client, agent):
    html = login(client, agent).get("/agent/").get_data(as_text=True)
    header = html.split("<header", 1)[1].split("</header>", 1)[0]
    assert 'class="top"' in html and "tel:" not in header and "site-menu.js" not in html
    assert "Queues" in header and "Sign out" in header
