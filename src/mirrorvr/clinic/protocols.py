"""The protocol library: the bundled presets with where each comes from.

A preset is a plan a therapist starts from (``configs/*.toml``). This module says, for each,
what it is, which published work it follows and whether it is investigational, and summarises
its dose from the plan itself (pulses, duration, intensity), so the console and docs never
restate numbers by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirrorvr.config.loader import list_presets, load_plan
from mirrorvr.session.timeline import compile_timeline


@dataclass(frozen=True)
class Source:
    """A published source (citation and where to read it)."""

    citation: str
    url: str


@dataclass(frozen=True)
class ProtocolInfo:
    """A preset and its provenance."""

    name: str
    title: str
    summary: str
    sources: tuple[Source, ...]
    #: timing relations no PLP trial has tested (clinical-workflow §6) are flagged
    investigational: bool
    clinical_use: str


_MALAVERA = Source(
    "Malavera A. et al. (2016) Repetitive transcranial magnetic stimulation of the primary "
    "motor cortex for phantom limb pain. J Pain 17:911",
    "https://pubmed.ncbi.nlm.nih.gov/27260638/",
)
_FINN = Source(
    "Finn S.B. et al. (2017) A randomized, controlled trial of mirror therapy for upper "
    "extremity phantom limb pain in male amputees. Front Neurol 8:267",
    "http://journal.frontiersin.org/article/10.3389/fneur.2017.00267/full",
)
_MOSELEY_2006 = Source(
    "Moseley G.L. (2006) Graded motor imagery for pathologic pain: a randomized controlled "
    "trial. Neurology 67:2129",
    "https://www.scribd.com/document/239718679/",
)
_MOSELEY_2004 = Source(
    "Moseley G.L. (2004) Graded motor imagery is effective for long-standing complex regional "
    "pain syndrome. Pain 108:192",
    "https://journals.lww.com/pain/Fulltext/2004/03000/Graded_motor_imagery_is_effective_for.24.aspx",
)
_NIBS_BIDS = Source(
    "Huang Y.-Z. et al. (2005) theta-burst definitions, as encoded in the NIBS-BIDS "
    "intervention-parameters README",
    "https://github.com/nigelrogasch/nibs-bids",
)
_ZHANG_FONG = Source(
    "Zhang J.J., Fong K.N.K. (2021) priming iTBS with mirror visual feedback. Front Hum "
    "Neurosci fnhum.2021.626887",
    "https://www.frontiersin.org/articles/10.3389/fnhum.2021.626887",
)
_MI_TMS = Source(
    "TMS pulses during motor imagery raise muscle-specific MEPs (healthy subjects); ES + MI "
    "timing (stimulation ≈ 1 s after imagery onset)",
    "https://pmc.ncbi.nlm.nih.gov/articles/PMC4113028",
)

LIBRARY: dict[str, ProtocolInfo] = {
    "malavera-mirror": ProtocolInfo(
        "malavera-mirror",
        "Malavera 2016 rTMS + mirror therapy",
        "10 Hz rTMS at 90 % RMT, 20 trains of 6 s (1200 pulses) one a minute, placed in the "
        "rests of mirror therapy",
        (_MALAVERA, _FINN),
        investigational=True,
        clinical_use="rTMS dose from an RCT; combining it with mirror therapy is untested in "
        "PLP, and the 6-s train at 90 % RMT is outside the (unverified) safety table: a "
        "documented clinical decision is needed (tms-safety §1)",
    ),
    "itbs-priming-mirror": ProtocolInfo(
        "itbs-priming-mirror",
        "iTBS priming + mirror therapy",
        "600-pulse intermittent theta burst before mirror therapy",
        (_NIBS_BIDS, _ZHANG_FONG),
        investigational=True,
        clinical_use="research only: TBS safety caps are not verified (tms-safety §6)",
    ),
    "cue-locked-imagery": ProtocolInfo(
        "cue-locked-imagery",
        "Cue-locked motor imagery",
        "one pulse 300 ms after each imagery cue's display time, with laterality training",
        (_MI_TMS, _MOSELEY_2004),
        investigational=True,
        clinical_use="research only: paired TMS-imagery timing is untested in PLP",
    ),
    "rehab-only": ProtocolInfo(
        "rehab-only",
        "Graded motor imagery (no stimulation)",
        "laterality recognition, explicit imagery and mirror movements with pre/post ratings",
        (_MOSELEY_2004, _MOSELEY_2006, _FINN),
        investigational=False,
        clinical_use="GMI as in the trials (there delivered over 6 weeks, 2 weeks per stage)",
    ),
    "console-demo": ProtocolInfo(
        "console-demo",
        "Console demo (20 s)",
        "a short combined session for trying the console; not a treatment",
        (),
        investigational=True,
        clinical_use="demonstration and testing only",
    ),
}


def library() -> list[dict[str, object]]:
    """Every bundled preset with provenance and its dose computed from the plan."""
    out: list[dict[str, object]] = []
    for name in list_presets():
        plan = load_plan(name)
        tl = compile_timeline(plan)
        info = LIBRARY.get(name)
        stim = plan.stimulation
        out.append(
            {
                "name": name,
                "title": info.title if info else plan.session.name,
                "summary": info.summary if info else plan.session.description,
                "sources": [s.__dict__ for s in info.sources] if info else [],
                "investigational": info.investigational if info else True,
                "clinical_use": info.clinical_use if info else "no provenance recorded",
                "mode": stim.mode,
                "intensity_pct_rmt": stim.intensity_pct_rmt if stim.mode != "none" else None,
                "pulses": tl.total_pulses,
                "duration_min": round(tl.duration / 60, 1),
                "blocks": [b.kind for b in plan.blocks],
            }
        )
    return out
