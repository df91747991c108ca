"""The plan files: `DONDOC_CONFIG` (the default plan) and every `plans/*.yaml` beside it.

Side effect: reads those files. Everything they contain is checked here, all at once, each
error located as FILE:LINE:COL; plans are then checked against each other and, for renames,
against what the ledger remembers.
"""
from __future__ import annotations

import re
from pathlib import Path

from models.loader import PlanError, PlanInvalid
from models.plan import Plan
from models.renames import Orphan


def plan_paths(config: Path) -> list[Path]:
    """The default plan file first, then `plans/*.yaml` beside it in name order."""
    return [config, *sorted(p for p in (config.parent / "plans").glob("*.yaml") if p.resolve() != config.resolve())]


def read_plan(path: Path) -> Plan:
    """Load and validate one plan file, from the cache when neither the file nor the code
    changed (raises PlanInvalid, OSError)."""
    from dondoc.plancache import read_plan as cached
    return cached(path)


def _id_position(path: Path, value: str, after: str | None = None) -> tuple[int, int]:
    """Line and column of the `id: value` written in the file (after the line `after:`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if after and line.startswith(f"{after}:")), 0)
    rx = re.compile(rf"""\bid:\s*["']?{re.escape(value)}["']?\s*(?:[,}}#]|$)""")
    for i in range(start, len(lines)):
        if m := rx.search(lines[i]):
            return i + 1, m.start() + 1
    return 1, 1


def read_plans(config: Path, only: list[str] | None = None) -> list[Plan]:
    """Every plan, the default one first; `only`: these plan ids (see `plan_files`)."""
    return [plan for _, plan in plan_files(config, only)]


def plan_files(config: Path, only: list[str] | None = None) -> list[tuple[Path, Plan]]:
    """Each plan file and its plan. Raises PlanInvalid listing every error of every file, ids
    that two files both use, and unknown ids in `only`."""
    plans, errors = [], []
    seen: dict[str, Path] = {}
    for path in plan_paths(config):
        try:
            plan = read_plan(path)
        except PlanInvalid as e:
            errors += e.errors
            continue
        except OSError as e:
            errors.append(PlanError(str(path), 1, 1, "(tệp)", f"không đọc được tệp: {getattr(e, 'strerror', e)}"))
            continue
        if plan.plan.id in seen:
            line, col = _id_position(path, plan.plan.id, "plan")
            errors.append(PlanError(str(path), line, col, "plan.id",
                                    f"mã kế hoạch {plan.plan.id!r} đã dùng trong {seen[plan.plan.id]}"))
            continue
        seen[plan.plan.id] = path
        plans.append((path, plan))
    if errors:
        raise PlanInvalid(errors)
    if only:
        unknown = sorted(set(only) - set(seen))
        if unknown:
            raise PlanInvalid([PlanError(str(config.parent), 1, 1, "--plan",
                                         f"không có kế hoạch {', '.join(unknown)}; có: {', '.join(seen)}")])
    return [(path, plan) for path, plan in plans if not only or plan.plan.id in only]


def rename_warnings(files: list[tuple[Path, Plan]], orphans: list[Orphan]) -> list[PlanError]:
    """Each history the ledger holds that no plan defines, located where the new name is
    probably written (a plan or task with no history yet), as a warning."""
    paths = {plan.plan.id: path for path, plan in files}
    plans = [plan for _, plan in files]
    out = []
    for o in orphans:
        if o.task_id is None:
            where = [(p, "plan", p.plan.id) for p in plans if p.plan.id in o.candidates]
            msg = (f"sổ cái có {o.cycles} chu kỳ của kế hoạch {o.plan_id!r}, không tệp nào định nghĩa; nếu đây là "
                   f"kế hoạch đó đổi tên, chạy `dondoc plan rename-plan {o.plan_id} MÃ-MỚI`")
        else:
            where = [(p, "tasks", t) for p in plans if p.plan.id == o.plan_id for t in o.candidates]
            msg = (f"sổ cái có {o.cycles} chu kỳ của nhiệm vụ {o.task_id!r}, kế hoạch không còn định nghĩa; nếu đã đổi "
                   f"tên, chạy `dondoc plan rename-task {o.task_id} MÃ-MỚI --plan {o.plan_id}`, nếu đã bỏ: "
                   f"`dondoc plan retire-task {o.task_id} --plan {o.plan_id}`")
        for plan, section, value in where or [(next(iter(plans)), "plan", next(iter(plans)).plan.id)]:
            path = paths[plan.plan.id]
            line, col = _id_position(path, value, section)
            out.append(PlanError(str(path), line, col, f"{section}.id" if section == "plan" else "tasks", msg))
    return out
