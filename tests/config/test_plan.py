from __future__ import annotations

from pathlib import Path

import pytest

from mirrorvr.config.loader import list_presets, load_plan, plan_from_dict
from mirrorvr.config.plan import PulseProtocol
from mirrorvr.errors import PlanError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "configs").glob("*.toml")))
def test_every_bundled_preset_loads(name: str) -> None:
    plan = load_plan(ROOT / "configs" / f"{name}.toml")
    assert plan.patient.id
    assert name in list_presets()


def test_default_plan_is_malavera_template() -> None:
    plan = load_plan(None)
    proto = plan.stimulation.protocol
    assert proto is not None
    assert proto.frequency_hz == pytest.approx(10.0)
    assert proto.pulses_per_train == 60
    assert len(proto.train_onsets()) == 20
    assert proto.total_pulses == 1200
    assert plan.stimulation.intensity_pct_rmt == 90


@pytest.mark.parametrize(
    ("interval", "levels", "total"),
    [
        # the NIBS-BIDS v2 README's examples (see shared/reference/clinical-workflow.md §11)
        (1.0, [(600.0, None)], 600),
        (0.1, [(4.0, 30.0), (2250.0, None)], 3000),
        (0.02, [(0.06, 0.2), (40.0, None)], 600),
        (0.005, [(0.02, 5.0), (1800.0, None)], 1440),
        (0.02, [(0.06, 0.2), (2.0, 10.0), (200.0, None)], 600),
    ],
)
def test_nibs_bids_examples_give_published_pulse_counts(interval, levels, total) -> None:
    proto = PulseProtocol(
        pulse_repetition_interval_s=interval,
        levels=[{"duration_s": d, "repetition_interval_s": r} for d, r in levels],
    )
    assert proto.total_pulses == total


def test_itbs_train_onsets_are_bursts_at_5hz_in_2s_blocks_every_10s() -> None:
    proto = PulseProtocol(
        pulse_repetition_interval_s=0.02,
        levels=[
            {"duration_s": 0.06, "repetition_interval_s": 0.2},
            {"duration_s": 2.0, "repetition_interval_s": 10.0},
            {"duration_s": 200.0},
        ],
    )
    onsets = proto.train_onsets()
    assert len(onsets) == 200
    assert onsets[:3] == pytest.approx([0.0, 0.2, 0.4])
    assert onsets[10] == pytest.approx(10.0)
    assert proto.train_pulse_offsets() == pytest.approx([0.0, 0.02, 0.04])


def test_level_that_is_not_a_whole_multiple_is_refused() -> None:
    with pytest.raises(ValueError, match="whole multiple"):
        PulseProtocol(pulse_repetition_interval_s=0.1, levels=[{"duration_s": 0.25}])


def _base() -> dict:
    return {
        "patient": {"id": "P1", "amputation_side": "left"},
        "blocks": [{"kind": "rest", "duration_s": 1}],
    }


def test_errors_name_every_bad_field() -> None:
    data = _base()
    data["blocks"] = [{"kind": "mirror", "repetitions": 0, "colour": "red"}]
    data["patient"]["amputation_side"] = "middle"
    with pytest.raises(PlanError) as ei:
        plan_from_dict(data, "plan.toml")
    wheres = {p.where for p in ei.value.problems}
    assert wheres == {
        "plan.toml:patient.amputation_side",
        "plan.toml:blocks[0].repetitions",
        "plan.toml:blocks[0].colour",
    }


def test_stimulation_without_threshold_is_refused() -> None:
    data = _base()
    data["stimulation"] = {
        "mode": "priming",
        "protocol": {"pulse_repetition_interval_s": 1.0, "levels": [{"duration_s": 10.0}]},
    }
    with pytest.raises(PlanError, match="motor_threshold is required"):
        plan_from_dict(data)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("[patient\nid = 1", encoding="utf-8")
    with pytest.raises(PlanError) as ei:
        load_plan(p)
    assert str(p) in str(ei.value) and "not valid TOML" in str(ei.value)
