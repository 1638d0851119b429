"""Loading plans from TOML with errors that name the file and field.

``load_plan`` is the one entry point: it reads the TOML, validates it into a
:class:`~mirrorvr.config.plan.SessionPlan` and raises :class:`~mirrorvr.errors.PlanError`
listing *every* problem as ``file:field: message``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import PlanError, Problem

#: Directory holding the bundled presets (``configs/`` at the top of the repository is the
#: editable copy; the package carries the same files so an installed mirrorvr has them too).
PRESETS_DIR = Path(__file__).resolve().parent / "presets"
DEFAULT_PLAN = "malavera-mirror"
#: block kinds (pydantic puts the discriminator tag into error paths)
_BLOCK_TAGS = ("rating", "rest", "imagery", "mirror", "laterality", "phantom_motor_execution")


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _BLOCK_TAGS and out.endswith("]"):
            # pydantic adds the discriminator tag to the path; the user's file has no such level
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def problems_from_validation(error: ValidationError, source: str) -> list[Problem]:
    """Turn a pydantic error into problems named ``source:field``."""
    problems = []
    for err in error.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see configs/ for the accepted fields)"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        problems.append(Problem(f"{source}:{_field_path(tuple(err['loc']))}", msg))
    return problems


def plan_from_dict(data: dict[str, Any], source: str = "<plan>") -> SessionPlan:
    """Validate a plan given as a dict (as parsed from TOML)."""
    try:
        return SessionPlan.model_validate(data)
    except ValidationError as e:
        raise PlanError(problems_from_validation(e, source)) from None


def resolve_plan_path(name_or_path: str | Path | None) -> Path:
    """A path as given, or a bundled preset by name (``None`` = the default plan)."""
    if name_or_path is None:
        return PRESETS_DIR / f"{DEFAULT_PLAN}.toml"
    p = Path(name_or_path)
    if p.exists() or p.suffix == ".toml" or "/" in str(name_or_path):
        return p
    preset = PRESETS_DIR / f"{name_or_path}.toml"
    return preset if preset.exists() else p


def list_presets() -> list[str]:
    """Names of the bundled presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_plan(path: str | Path | None) -> SessionPlan:
    """Load and validate a plan file (or a bundled preset name)."""
    p = resolve_plan_path(path)
    if not p.exists():
        raise PlanError(
            [Problem(str(p), f"no such plan file (bundled presets: {', '.join(list_presets())})")]
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PlanError([Problem(str(p), f"not valid TOML: {e}")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError([Problem(str(p), f"cannot read the file: {e}")]) from None
    return plan_from_dict(data, str(p))


def plan_to_toml(plan: SessionPlan) -> str:
    """Serialise a plan to TOML (the exact plan a session ran is kept beside its log)."""
    return tomli_w.dumps(plan.model_dump(mode="json", exclude_none=True))
