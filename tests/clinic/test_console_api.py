"""The console's API and its security: no token, no control; LAN needs a generated token."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from mirrorvr.clinic.console.app import create_app
from mirrorvr.clinic.console.auth import Access, ConsoleError, generate_token
from mirrorvr.clinic.screening import ITEMS
from mirrorvr.clinic.store import ClinicStore
from tests.conftest import mirrorvr_cmd

NO = {k: False for k in ITEMS}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClinicStore]:
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        yield s


def _client(store: ClinicStore, tmp_path: Path, host: str = "127.0.0.1") -> tuple[TestClient, str]:
    token = generate_token()
    app = create_app(store, Access(host, token), tmp_path / "sessions", realtime=False)
    return TestClient(app, base_url="http://127.0.0.1"), token


def _api_routes(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for r in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(r, Route) and r.path.startswith("/api"):
            path = r.path.replace("{pid}", "P1").replace("{sid}", "1")
            out += [(m, path) for m in sorted(r.methods or []) if m != "HEAD"]
    return out


def test_every_api_route_refuses_a_missing_or_wrong_token(
    store: ClinicStore, tmp_path: Path
) -> None:
    client, token = _client(store, tmp_path)
    routes = _api_routes(client)
    controls = {p for m, p in routes if m == "POST"}
    assert {
        "/api/sessions/start",
        "/api/sessions/current/estop",
        "/api/sessions/current/pause",
        "/api/sessions/current/resume",
        "/api/sessions/current/stop",
    } <= controls
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers)
    # the pages themselves carry no data and are served without a token, from here only
    page = client.get("/")
    assert page.status_code == 200 and "/static/console.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN or remote asset
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("ws://127.0.0.1/ws/live") as ws:
            ws.receive_json()
    with client.websocket_connect(f"ws://127.0.0.1/ws/live?token={token}") as ws:
        assert ws.receive_json() == {"state": "none"}


def test_localhost_console_refuses_foreign_host_headers(store: ClinicStore, tmp_path: Path) -> None:
    client, token = _client(store, tmp_path)
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/patients", headers=h).status_code == 200
    # a page on another site reaching us by DNS rebinding arrives with its own Host
    assert client.get("/api/patients", headers=h | {"Host": "evil.example"}).status_code == 400


def test_lan_mode_needs_a_generated_token(store: ClinicStore, tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="generated token"):
        Access("0.0.0.0", "letmein")
    with pytest.raises(ConsoleError, match="needs a token"):
        Access("0.0.0.0", "")
    client, token = _client(store, tmp_path, host="0.0.0.0")
    other = {"Host": "192.168.1.20:8765"}
    assert client.get("/api/patients", headers=other).status_code == 401
    assert client.post("/api/sessions/current/estop", headers=other).status_code == 401
    ok = client.get("/api/patients", headers=other | {"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    res = subprocess.run(
        mirrorvr_cmd("console", "--lan", "--token", "short", "--db", str(tmp_path / "x.db")),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 2 and "generated token" in res.stderr
    assert "Traceback" not in res.stderr


def test_governor_and_screening_gate_the_start_and_everything_is_audited(
    store: ClinicStore, tmp_path: Path
) -> None:
    client, token = _client(store, tmp_path)
    h = {"Authorization": f"Bearer {token}", "X-Operator": "AB"}
    assert client.post(
        "/api/patients", headers=h, json={"id": "P1", "amputation_side": "right"}
    ).is_success
    body = {"patient_id": "P1", "preset": "console-demo"}
    r = client.post("/api/plan/check", headers=h, json=body).json()
    assert not r["ok"] and r["problems"][0]["where"] == "motor_threshold"
    client.post("/api/patients/P1/threshold", headers=h, json={"rmt_pct_mso": 50})
    r = client.post("/api/plan/check", headers=h, json=body).json()
    assert [p["where"] for p in r["problems"]] == ["screening"]
    client.post("/api/patients/P1/screening", headers=h, json={"answers": {**NO, "epilepsy": True}})
    refused = client.post("/api/sessions/start", headers=h, json=body)
    assert refused.status_code == 422
    assert "epilepsy" in refused.json()["problems"][0]["message"]
    client.post(
        "/api/patients/P1/screening",
        headers=h,
        json={"answers": {**NO, "epilepsy": True}, "cleared_by": "Dr. B"},
    )
    r = client.post("/api/plan/check", headers=h, json=body | {"intensity_pct_rmt": 130}).json()
    assert not r["ok"]
    assert r["problems"] == [
        {
            "where": "stimulation.intensity_pct_rmt",
            "message": "intensity 130 % of motor threshold is above the profile's limit of 120 %",
        }
    ]
    r = client.post("/api/plan/check", headers=h, json=body | {"stage": "laterality"}).json()
    assert "concurrent stimulation needs rests" in r["problems"][0]["message"]
    r = client.post("/api/plan/check", headers=h, json=body).json()
    assert r["ok"] and r["summary"]["intensity_pct_mso"] == 45.0
    # the store's pulses today feed the governor's daily limit
    for i in range(37):  # 37 logs of 80 pulses today: 2960 pulses, limit 3000
        folder = tmp_path / f"earlier{i}"
        store.create_session("P1", plan_name="demo", plan_toml="", folder=folder, pulses_planned=80)
        folder.mkdir()
        (folder / "events.jsonl").write_text(
            '{"seq":0,"t":0,"kind":"train_intent","step":1,"train":0,"n_pulses":80}\n'
            '{"seq":1,"t":1,"kind":"train_outcome","step":1,"train":0,"delivered":80}\n'
        )
    assert store.pulses_today("P1", dt.date.today()) == 2960
    r = client.post("/api/plan/check", headers=h, json=body).json()
    assert "2960 pulses already today + 80 planned exceeds the daily limit of 3000" in str(
        r["problems"]
    )
    assert client.post("/api/sessions/start", headers=h, json=body).status_code == 422
    assert client.post("/api/sessions/current/estop", headers=h).status_code == 409
    actions = [(a["action"], a["actor"]) for a in store.audit_log()]
    names = [a for a, _ in actions]
    assert names.count("screening_recorded") == 2 and "threshold_recorded" in names
    assert names.count("start_refused") == 2 and "estop_refused" in names
    assert all(actor.startswith("AB@") for _, actor in actions)


def test_a_rehab_session_started_through_the_api_is_recorded_with_its_laterality_score(
    store: ClinicStore, tmp_path: Path
) -> None:
    client, token = _client(store, tmp_path)  # simulated clock: the session runs in seconds
    h = {"Authorization": f"Bearer {token}"}
    client.post("/api/patients", headers=h, json={"id": "P2", "amputation_side": "left"})
    body = {"patient_id": "P2", "preset": "rehab-only", "stage": "laterality"}
    # no stimulation: neither screening nor a motor threshold is needed
    assert client.post("/api/plan/check", headers=h, json=body).json()["ok"]
    assert client.post("/api/sessions/start", headers=h, json=body).status_code == 200
    live = client.app.state.console.live  # type: ignore[attr-defined]
    assert live.ended.wait(120)
    d = client.get("/api/patients/P2", headers=h).json()
    (s,) = d["sessions"]
    assert s["status"] == "completed" and s["pulses_planned"] == 0
    lat = s["laterality"]
    assert set(lat["by_side"]) == {"left", "right"}
    assert sum(v["trials"] for v in lat["by_side"].values()) == 60  # 20 assessment + 40 training
    assert lat["suggestion"].startswith(("progress", "repeat"))
    assert {r["timepoint"] for r in d["ratings"]} == {"pre", "post"}
