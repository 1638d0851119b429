"""The embodiment questionnaire: compiled after mirror blocks, answered by the simulated patient
on the simulated clock, logged per item (events and the XDF marker stream carry the same)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.embodiment import EMBODIMENT_ITEMS, embodiment_scores
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.timeline import compile_timeline

PLAN = textwrap.dedent(
    """
    [session]
    name = "embodiment test"
    seed = 3

    [patient]
    id = "T-2"
    amputation_side = "right"

    [[blocks]]
    kind = "mirror"
    movements = ["fist"]
    repetitions = 2
    cue_s = 0.2
    movement_s = 0.4
    rest_s = 0.3
    embodiment = true

    [[blocks]]
    kind = "mirror"
    movements = ["pronation"]
    repetitions = 1
    cue_s = 0.2
    movement_s = 0.4
    rest_s = 0.3
    """
)


def _plan(tmp_path: Path, text: str = PLAN):  # type: ignore[no-untyped-def]
    p = tmp_path / "plan.toml"
    p.write_text(text, encoding="utf-8")
    return load_plan(p)


def test_questionnaire_closes_only_the_blocks_that_ask_for_it(tmp_path: Path) -> None:
    steps = compile_timeline(_plan(tmp_path)).steps
    asked = [s for s in steps if s.kind == "embodiment"]
    assert [s.data["item"] for s in asked] == [it.id for it in EMBODIMENT_ITEMS]
    assert {s.block for s in asked} == {0}
    end = next(s for s in steps if s.kind == "block_end" and s.block == 0)
    last_window = max(s.t for s in steps if s.kind == "window" and s.block == 0)
    assert all(last_window < s.t < end.t + 1e-9 for s in asked)
    assert "missing hand" in str(asked[-1].data["prompt"])
    # a lower-limb plan asks about the foot
    foot = (
        PLAN.replace('movements = ["fist"]', 'movements = ["ankle_dorsiflexion"]')
        .replace('movements = ["pronation"]', 'movements = ["ankle_dorsiflexion"]')
        .replace(
            'amputation_side = "right"',
            'amputation_side = "right"\nlimb = "lower"\namputation_level = "transtibial"',
        )
    )
    steps = compile_timeline(_plan(tmp_path, foot)).steps
    assert all("foot" in str(s.data["prompt"]) for s in steps if s.kind == "embodiment")


def test_simulated_patient_answers_and_every_item_is_logged(tmp_path: Path) -> None:
    result, _ = run_session(_plan(tmp_path), LaunchOptions(out=tmp_path / "s"))
    assert result.state == "completed"
    events = read_events(tmp_path / "s" / "events.jsonl").events
    prompts = [e for e in events if e.kind == "embodiment_prompt"]
    answers = [e for e in events if e.kind == "embodiment"]
    assert [e["item"] for e in answers] == [it.id for it in EMBODIMENT_ITEMS]
    assert len(prompts) == 3
    for p, a in zip(prompts, answers, strict=True):
        assert a["item"] == p["item"] and a["step"] == p["step"]
        assert 0 <= a["value"] <= 10 and a["rt_s"] > 0 and a.t > p.t
    scores = embodiment_scores({"kind": e.kind, **e.data} for e in answers)
    assert set(scores) == {"ownership", "agency", "location"}


def test_report_and_pooled_table_carry_the_embodiment_scores(tmp_path: Path) -> None:
    import pandas as pd

    from mirrorvr.analysis.report import analyze_paths

    folder = tmp_path / "s"
    run_session(_plan(tmp_path), LaunchOptions(out=folder))
    out = tmp_path / "report"
    summary = analyze_paths([folder, folder], out, pooled=True)
    e = summary["sessions"][0]["outcomes"]["embodiment"]
    events = read_events(folder / "events.jsonl").events
    logged = {x["item"]: x["value"] for x in events if x.kind == "embodiment"}
    assert e["available"] and e["asked"] == e["answered"] == 3
    assert e["items"] == logged
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Embodiment" in html and "ownership: felt like my own" in html
    table = pd.read_csv(out / "sessions.csv")
    assert (table["embodiment_agency"] == logged["agency"]).all()
    assert table["embodiment_mean"].notna().all()


def test_answers_are_markers_in_the_xdf(tmp_path: Path) -> None:
    import json

    import pyxdf

    run_session(_plan(tmp_path), LaunchOptions(out=tmp_path / "s"))
    streams, _ = pyxdf.load_xdf(str(tmp_path / "s" / "session.xdf"))
    markers = next(s for s in streams if s["info"]["name"][0].endswith("markers"))
    kinds = [json.loads(m[0])["kind"] for m in markers["time_series"]]
    assert kinds.count("embodiment_prompt") == 3 and kinds.count("embodiment") == 3
