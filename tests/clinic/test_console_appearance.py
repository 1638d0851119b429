"""A patient's limb appearance: stored (additive migration), carried into planned sessions, set in
the console with a live preview (real headless Chromium, Debian's, driven by playwright)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.clinic.appearance import Appearance, get_appearance, set_appearance
from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.readiness import governor_inputs, plan_for_patient
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import load_plan
from tests.clinic.test_console_browser import (  # noqa: F401 — console, page: fixtures
    WAIT_MS,
    _shots,
    console,
    page,
)


def test_appearance_round_trips_through_the_store_into_the_plan(tmp_path: Path) -> None:
    store = ClinicStore(tmp_path / "clinic.sqlite3")
    store.add_patient("PLP-7", "left", "transradial", None, "")
    assert get_appearance(store, "PLP-7") is None
    a = Appearance("#8D5B3E", "#204060", hand_length_cm=17.0, hand_width_cm=8.4)
    set_appearance(store, "PLP-7", a)
    assert get_appearance(store, "PLP-7") == Appearance("#8d5b3e", "#204060", 17.0, 8.4)
    with pytest.raises(StoreError, match="skin: 'brown' is not a #rrggbb colour"):
        set_appearance(store, "PLP-7", Appearance("brown", "#204060"))
    with pytest.raises(StoreError, match="hand_width_cm: 30"):
        set_appearance(store, "PLP-7", Appearance(hand_width_cm=30.0))
    plan = plan_for_patient(load_plan("rehab-only"), governor_inputs(store, "PLP-7"))
    s = plan.scene
    assert (s.skin, s.sleeve, s.hand_length_cm) == ("#8d5b3e", "#204060", 17.0)
    assert s.hand_scale == pytest.approx(8.4 / (8.5 * 17.0 / 19.0), abs=1e-3)
    store.close()
    # reopened (migrated once, kept)
    again = ClinicStore(tmp_path / "clinic.sqlite3")
    assert get_appearance(again, "PLP-7") == Appearance("#8d5b3e", "#204060", 17.0, 8.4)
    again.close()


def _preview_pixels(pg: object) -> np.ndarray:
    """The preview image's pixels, read back in the page (the image is a blob URL)."""
    data_url = pg.evaluate(  # type: ignore[attr-defined]
        """() => { const img = document.querySelector('#appearance-preview');
                   const c = document.createElement('canvas');
                   c.width = img.naturalWidth; c.height = img.naturalHeight;
                   c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png'); }"""
    )
    import io

    from PIL import Image

    raw = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))


def test_therapist_sets_the_appearance_with_a_live_preview(
    console: tuple[object, ClinicStore],  # noqa: F811
    page: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Page, expect

    from tests.render.helpers import skin_mask

    server, store = console
    assert isinstance(page, Page)
    pg: Page = page
    pg.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    store.add_patient("PLP-9", "right", "transradial", None, "")
    pg.goto(f"{server.url}")  # type: ignore[attr-defined]
    pg.evaluate("() => { location.hash = '#/patient/PLP-9'; }")
    preview = pg.locator("#appearance-preview")
    expect(preview).to_have_attribute("data-skin", "#dcb294")  # the default, drawn
    before = _preview_pixels(pg)
    hands = skin_mask(before)
    assert hands.sum() > 2000

    # a darker skin tone: the preview follows before anything is saved
    pg.fill("#appearance-form input[name=skin]", "#6b4430")
    expect(preview).to_have_attribute("data-skin", "#6b4430")
    darker = _preview_pixels(pg)
    assert before[hands].mean() > darker[hands].mean() + 30
    # a longer hand: more of the picture is hand
    pg.fill("#appearance-form input[name=skin]", "#dcb294")
    pg.fill("#appearance-form input[name=hand_length_cm]", "22")
    expect(preview).to_have_attribute("data-hand-length", "22")
    expect(preview).to_have_attribute("data-skin", "#dcb294")
    assert skin_mask(_preview_pixels(pg)).sum() > 1.1 * hands.sum()

    # saved, stored, and shown again after a reload
    pg.fill("#appearance-form input[name=skin]", "#6b4430")
    pg.fill("#appearance-form input[name=hand_width_cm]", "9")
    pg.click("#appearance-form button[type=submit]")
    expect(pg.locator("#appearance-msg")).to_contain_text("Saved")
    expect(preview).to_have_attribute("data-hand-width", "9")
    pg.locator("#appearance").screenshot(path=str(_shots(tmp_path) / "console-appearance.png"))
    assert get_appearance(store, "PLP-9") == Appearance("#6b4430", "#6b7890", 22.0, 9.0)
    pg.reload()
    expect(pg.locator("#appearance-form input[name=skin]")).to_have_value("#6b4430")
    expect(pg.locator("#appearance-form input[name=hand_length_cm]")).to_have_value("22")
    # a bad value is refused with the reason
    pg.fill("#appearance-form input[name=hand_width_cm]", "40")
    pg.click("#appearance-form button[type=submit]")
    expect(pg.locator("#appearance-msg")).to_contain_text("hand_width_cm: 40")
    assert any(e["action"] == "appearance_set" for e in store.audit_log())
