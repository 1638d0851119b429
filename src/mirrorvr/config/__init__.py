"""Session plans: pydantic models, TOML loading and bundled presets."""

from __future__ import annotations

from mirrorvr.config.loader import load_plan, plan_from_dict, plan_to_toml
from mirrorvr.config.plan import SessionPlan

__all__ = ["SessionPlan", "load_plan", "plan_from_dict", "plan_to_toml"]
