"""The one key of the ledger: (plan, period, task, unit, stage, seq), built and parsed here only.

A cycle is `plan/period/task/unit`; an action adds its stage: `plan/period/task/unit/stage[-seq]`.
A part that does not apply is `-` (ids never are: they start with a letter or digit), so
every key has the same shape: `hoc-tap/2026/-/-/compile`, `hoc-tap/2026-Q3/bao-cao/-/escalation`.
"""
from __future__ import annotations

from dataclasses import dataclass

NONE = "-"


@dataclass(frozen=True)
class Key:
    plan: str
    period: str
    task: str | None = None
    unit: str | None = None
    stage: str | None = None      # None: the key of a cycle (or of a report)
    seq: int = 0

    def __str__(self) -> str:
        parts = [self.plan, self.period, self.task or NONE, self.unit or NONE]
        if self.stage is not None:
            parts.append(f"{self.stage}-{self.seq}" if self.seq else self.stage)
        return "/".join(parts)

    @classmethod
    def parse(cls, text: str) -> Key:
        """The key written as `text`; ValueError when it is not one."""
        parts = text.split("/")
        if len(parts) not in (4, 5) or not all(parts):
            raise ValueError(f"{text!r} is not a ledger key")
        plan, period, task, unit = (None if p == NONE else p for p in parts[:4])
        stage, seq = None, 0
        if len(parts) == 5:
            stage, _, n = parts[4].partition("-")
            if n and not n.isdigit():
                raise ValueError(f"{text!r} is not a ledger key")
            seq = int(n or 0)
        if plan is None or period is None:
            raise ValueError(f"{text!r} is not a ledger key")
        return cls(plan, period, task, unit, stage, seq)

    @property
    def cycle(self) -> Key:
        """The cycle this action belongs to (plan, period, task, unit)."""
        return Key(self.plan, self.period, self.task, self.unit)   # not dataclasses.replace: 5 times faster

    def at(self, stage: str, seq: int = 0) -> Key:
        return Key(self.plan, self.period, self.task, self.unit, stage, seq)
