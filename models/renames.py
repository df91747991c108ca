"""Renames are never silent: history in the ledger that no plan defines any more. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from models.plan import Plan


@dataclass(frozen=True)
class Orphan:
    """The ledger holds `cycles` cycles of a plan (task_id None) or of one of its tasks that no
    plan file defines; `candidates`: the ids without history that may be its new name."""
    plan_id: str
    task_id: str | None
    cycles: int
    candidates: tuple[str, ...]


def orphans(plans: list[Plan], history: dict[tuple[str, str], int]) -> list[Orphan]:
    """`history`: (plan, task) -> cycles the ledger holds (retired tasks left out)."""
    known = {p.plan.id: p for p in plans}
    fresh_plans = tuple(p.plan.id for p in plans if not any(pid == p.plan.id for pid, _ in history))
    out: list[Orphan] = []
    for pid in sorted({pid for pid, _ in history} - set(known)):
        out.append(Orphan(pid, None, sum(n for (p, _), n in history.items() if p == pid), fresh_plans))
    for (pid, tid), n in sorted(history.items()):
        plan = known.get(pid)
        if plan is not None and tid not in {t.id for t in plan.tasks}:
            fresh = tuple(t.id for t in plan.tasks if (pid, t.id) not in history)
            out.append(Orphan(pid, tid, n, fresh))
    return out


def held_back(plan: Plan, found: list[Orphan]) -> set[str]:
    """Tasks of `plan` that get no first request while a rename may be pending: the plan's
    tasks without history when the ledger holds history of this plan (or of a plan no file
    defines) under another name. Nothing when there is no such history."""
    mine = [o for o in found if (o.task_id is not None and o.plan_id == plan.plan.id)
            or (o.task_id is None and plan.plan.id in o.candidates)]
    return {c for o in mine for c in (o.candidates if o.task_id else [t.id for t in plan.tasks])}
