"""Trials: permuted blocks, the sealed allocation, blinded reads, audited irreversible unblinding."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorvr.clinic.randomise import RandomisationError, permuted_blocks
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.clinic.trial import TrialError, load_trial, parse_trial
from mirrorvr.clinic.trial_store import TrialStore
from mirrorvr.errors import PlanError

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "configs/trials/malavera-sham.toml"
DAY = dt.date(2026, 11, 2)


@given(st.integers(0, 2**40), st.sampled_from([[2], [4], [2, 4], [4, 6]]), st.integers(1, 80))
def test_permuted_blocks_stay_balanced(seed: int, sizes: list[int], n: int) -> None:
    seq = permuted_blocks(["a", "b"], [1, 1], sizes, n, seed, "s")
    assert len(seq) == n
    # at any point the imbalance is at most half the largest block
    diff = 0
    for x in seq:
        diff += 1 if x == "a" else -1
        assert abs(diff) <= max(sizes) // 2


def test_permuted_blocks_are_reproducible_and_respect_ratios() -> None:
    a = permuted_blocks(["x", "y"], [1, 1], [2, 4], 100, 7, "pain<7")
    assert a == permuted_blocks(["x", "y"], [1, 1], [2, 4], 100, 7, "pain<7")
    assert a != permuted_blocks(["x", "y"], [1, 1], [2, 4], 100, 8, "pain<7")
    assert a != permuted_blocks(["x", "y"], [1, 1], [2, 4], 100, 7, "pain>=7")
    c = Counter(permuted_blocks(["x", "y"], [2, 1], [3, 6], 60, 1))
    assert c == {"x": 40, "y": 20}
    with pytest.raises(RandomisationError, match="multiple of 3"):
        permuted_blocks(["x", "y"], [2, 1], [4], 10, 1)


def _patients(s: ClinicStore, n: int) -> None:
    for i in range(n):
        s.add_patient(f"P{i}", "left", amputation_date=dt.date(2020, 1, 1))


def test_allocation_is_sealed(tmp_path: Path) -> None:
    trial = load_trial(TRIAL)
    db = tmp_path / "c.sqlite3"
    with ClinicStore(db) as s:
        ts = TrialStore(s)
        ts.register(trial)
        assert ts.verify_allocation(trial.id)
        with pytest.raises(TrialError, match="already registered"):
            ts.register(trial)
        _patients(s, 2)
        ts.screen(trial.id, "P0", eligible=True)
        e = ts.randomise(trial.id, "P0", baseline_nrs=6, day=DAY)
        assert e.stratum == "pain<7" and e.slot == 1
    raw = sqlite3.connect(db)
    for sql in (
        "UPDATE trial_allocation SET arm = 'active'",
        "DELETE FROM trial_allocation",
        "UPDATE trials SET spec_toml = ''",
        "UPDATE trial_patients SET slot = 2 WHERE patient_id = 'P0'",
    ):
        with pytest.raises(sqlite3.IntegrityError, match=r"sealed|keeps their allocation"):
            raw.execute(sql)
    # someone who drops the triggers to rewrite the list is caught by the commitment
    raw.execute("DROP TRIGGER trial_allocation_sealed_u")
    raw.execute(
        "UPDATE trial_allocation SET arm = CASE arm WHEN 'active' THEN 'sham' ELSE 'active' END "
        "WHERE stratum = 'pain<7' AND slot = 1"
    )
    raw.commit()
    raw.close()
    with ClinicStore(db) as s:
        assert not TrialStore(s).verify_allocation(trial.id)


def test_blinded_roles_never_get_the_arm_and_unblinding_is_audited(tmp_path: Path) -> None:
    trial = load_trial(TRIAL)
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        ts = TrialStore(s)
        ts.register(trial)
        _patients(s, 3)
        for p in ("P0", "P1"):
            ts.screen(trial.id, p, eligible=True)
            ts.randomise(trial.id, p, baseline_nrs=7, day=DAY)
        ts.screen(trial.id, "P2", eligible=False, reason="seizure history")
        with pytest.raises(TrialError, match="ineligible"):
            ts.randomise(trial.id, "P2", baseline_nrs=7, day=DAY)
        for role in trial.spec.blinding.blinded:
            assert ts.arm_for(trial.id, "P0", role) is None
        arm = ts.arm_for(trial.id, "P0", "operator")
        assert arm in ("active", "sham")
        assert "coil" in ts.operator_instruction(trial.id, "P0", "operator")
        with pytest.raises(TrialError, match="blinded"):
            ts.operator_instruction(trial.id, "P0", "therapist")
        with pytest.raises(TrialError, match="needs a reason"):
            ts.unblind(trial.id, actor="Dr A", reason="  ", patient_id="P0")
        assert (
            ts.unblind(trial.id, actor="Dr A", reason="seizure after session 3", patient_id="P0")
            == arm
        )
        assert ts.arm_for(trial.id, "P0", "therapist") == arm
        assert ts.arm_for(trial.id, "P1", "therapist") is None  # only that patient
        with pytest.raises(TrialError, match="blinded"):
            ts.arms_unblinded(trial.id)
        log = [a for a in s.audit_log() if a["action"] == "unblinded"]
        assert (
            log
            and log[0]["actor"] == "Dr A"
            and log[0]["details"]["reason"] == "seizure after session 3"
        )
        with pytest.raises(sqlite3.IntegrityError, match="irreversible"):
            s._conn.execute("DELETE FROM unblindings")
        ts.unblind(trial.id, actor="statistician", reason="end of trial")
        assert set(ts.arms_unblinded(trial.id)) == {"P0", "P1"}


def _randomise_many(db: str, trial_id: str, ids: list[str]) -> None:
    with ClinicStore(db) as s:
        ts = TrialStore(s)
        for p in ids:
            ts.randomise(trial_id, p, baseline_nrs=5, day=DAY)


def test_two_processes_randomising_at_once_take_distinct_slots(tmp_path: Path) -> None:
    trial = load_trial(TRIAL)
    db = tmp_path / "c.sqlite3"
    with ClinicStore(db) as s:
        TrialStore(s).register(trial)
        _patients(s, 20)
        for i in range(20):
            TrialStore(s).screen(trial.id, f"P{i}", eligible=True)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_randomise_many, args=(str(db), trial.id, [f"P{i}" for i in r]))
        for r in (range(0, 20, 2), range(1, 20, 2))
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with ClinicStore(db) as s:
        es = [e for e in TrialStore(s).enrolments(trial.id) if e.stage == "randomised"]
        assert sorted(e.slot for e in es) == list(range(1, 21))


def test_unknown_arm_and_unblindable_designs_are_refused(tmp_path: Path) -> None:
    trial = load_trial(TRIAL)
    with pytest.raises(TrialError, match="arms are active, sham"):
        trial.spec.arm("placebo")
    text = TRIAL.read_text()
    with pytest.raises(PlanError, match="block_sizes"):
        parse_trial(
            text.replace("block_sizes = [2, 4]", "block_sizes = [3]"), "t.toml", TRIAL.parent
        )
    dp = parse_trial(
        text.replace('method = "sham-coil"', 'method = "device-placebo"'), "t", TRIAL.parent
    )
    assert not dp.spec.verified_sham  # no documented placebo mode: UNVERIFIED
    # a 2x2 where one arm does imagery only: the patient sees the difference
    other = tmp_path / "imagery.toml"
    other.write_text(
        (ROOT / "configs/courses/malavera-10.toml")
        .read_text()
        .replace('plan = "malavera-mirror"', 'plan = "cue-locked-imagery"')
        .replace("max_pulses_per_week = 6000", "")
    )
    two = text.replace('stimulation = "sham"\n', f'stimulation = "sham"\ncourse = "{other}"\n')
    with pytest.raises(PlanError, match="only the assessor and the statistician"):
        parse_trial(two, "t.toml", TRIAL.parent)
    ok = two.replace(
        'blinded = ["patient", "therapist", "assessor", "statistician"]',
        'blinded = ["assessor", "statistician"]',
    ).replace('unblinded = ["operator"]', 'unblinded = ["operator", "patient", "therapist"]')
    assert parse_trial(ok, "t.toml", TRIAL.parent).courses["sham"].spec.phases[0].plan == (
        "cue-locked-imagery"
    )


def test_bundled_two_by_two_blinds_only_the_assessor_and_statistician() -> None:
    t = load_trial(ROOT / "configs/trials/mirror-imagery-2x2.toml")
    assert len(t.spec.arms) == 4 and set(t.spec.blinding.blinded) == {"assessor", "statistician"}
    assert t.courses["sham-imagery"].spec.phases[0].plan == "plans/malavera-imagery.toml"
    text = (ROOT / "configs/trials/mirror-imagery-2x2.toml").read_text()
    # leaving the patient out of both lists would blind them silently: refused as well
    hidden = text.replace(
        'unblinded = ["operator", "therapist", "patient"]', 'unblinded = ["operator"]'
    )
    with pytest.raises(PlanError, match="the patient and the therapist see"):
        parse_trial(hidden, "t.toml", ROOT / "configs/trials")
