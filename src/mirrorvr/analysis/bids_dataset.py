"""The BIDS dataset level: dataset_description fields, dataset files, participants.tsv.

Moved out of :mod:`mirrorvr.analysis.bids` (which re-exports every name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mirrorvr import __version__
from mirrorvr.analysis.bids_events import (
    BIDS_VERSION,
    HED_VERSION,
    _write_json,
    _write_tsv,
)
from mirrorvr.analysis.loader import AnalysisError

# ---- the dataset --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """dataset_description.json fields a researcher gives (options or a TOML ``[dataset]``)."""

    name: str = "mirrorvr sessions"
    authors: tuple[str, ...] = ()
    license: str | None = None
    funding: tuple[str, ...] = ()
    acknowledgements: str | None = None
    how_to_acknowledge: str | None = None
    references_and_links: tuple[str, ...] = ()
    dataset_doi: str | None = None
    ethics_approvals: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The BIDS fields that are set."""
        out: dict[str, Any] = {"Name": self.name}
        for key, v in (
            ("Authors", list(self.authors)),
            ("License", self.license),
            ("Funding", list(self.funding)),
            ("Acknowledgements", self.acknowledgements),
            ("HowToAcknowledge", self.how_to_acknowledge),
            ("ReferencesAndLinks", list(self.references_and_links)),
            ("DatasetDOI", self.dataset_doi),
            ("EthicsApprovals", list(self.ethics_approvals)),
        ):
            if v:
                out[key] = v
        return out


_DATASET_KEYS = {
    "name": str, "authors": list, "license": str, "funding": list, "acknowledgements": str,
    "how_to_acknowledge": str, "references_and_links": list, "dataset_doi": str,
    "ethics_approvals": list,
}  # fmt: skip


def load_dataset_info(path: Path | None = None, **overrides: Any) -> DatasetInfo:
    """DatasetInfo from a TOML file's ``[dataset]`` table, then ``overrides`` (None skipped).

    Raises :class:`AnalysisError` naming the file and field on anything it cannot use.
    """
    import tomllib

    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("dataset", {})
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise AnalysisError(f"{path}: cannot read the dataset description ({e})") from None
        if not isinstance(doc, dict):
            raise AnalysisError(f"{path}: [dataset] must be a table")
    merged = {**doc, **{k: v for k, v in overrides.items() if v is not None}}
    kw: dict[str, Any] = {}
    for k, v in merged.items():
        want = _DATASET_KEYS.get(k)
        where = f"{path}: dataset.{k}" if k in doc and path else f"--{k.replace('_', '-')}"
        if want is None:
            raise AnalysisError(f"{where}: unknown field; one of {', '.join(_DATASET_KEYS)}")
        if want is list:
            if isinstance(v, str):
                v = [x.strip() for x in v.split(";") if x.strip()]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise AnalysisError(f"{where}: a list of strings (or one string, ';'-separated)")
            kw[k] = tuple(v)
        elif not isinstance(v, str):
            raise AnalysisError(f"{where}: must be a string")
        else:
            kw[k] = v
    return DatasetInfo(**kw)


def _dataset_files(root: Path, info: DatasetInfo | None = None) -> list[Path]:
    out = []
    path = root / "dataset_description.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    desc = {
        "Name": "mirrorvr sessions",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "HEDVersion": HED_VERSION,
        "GeneratedBy": [{"Name": "mirrorvr", "Version": __version__}],
        **old,
        **(info.fields() if info is not None else {}),
    }
    if desc != old:
        out.append(_write_json(path, desc))
    if not (root / "README").exists():
        (root / "README").write_text(
            "VR mirror therapy and TMS sessions for phantom limb pain, exported by mirrorvr "
            f"{__version__}.\nOnsets are seconds from each session's start (LSL clock). The "
            "stimulation protocol is in each events.json under StimulationProtocol (NIBS-BIDS "
            "v2 timing vocabulary).\n",
            encoding="utf-8",
        )
        out.append(root / "README")
    return out


def _participants(root: Path, new: dict[str, dict[str, Any]]) -> list[Path]:
    path = root / "participants.tsv"
    cols = ["participant_id", "amputation_side", "amputation_level"]
    old = pd.read_csv(path, sep="\t", dtype=str) if path.exists() else pd.DataFrame(columns=cols)
    rows = {r["participant_id"]: dict(r) for _, r in old.iterrows()}
    rows.update(new)
    df = pd.DataFrame(sorted(rows.values(), key=lambda r: r["participant_id"]), columns=cols)
    return [
        _write_tsv(path, df),
        _write_json(
            root / "participants.json",
            {
                "amputation_side": {"Description": "side of the amputation", "Levels": {"left": "left", "right": "right"}},
                "amputation_level": {"Description": "level of the amputation (transradial, ...)"},
            },
        ),
    ]  # fmt: skip
