"""Turn the plan's YAML text into a validated `Plan`, or into a list of located errors.

Pure: takes the text and the name to report, reads no file. Every scalar is read as a
string (no YAML 1.1 surprises: `07:30` is not 450, `no` is not False, `05/12` stays text)
and pydantic converts what the schema asks for; duplicate keys are errors.
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from models.plan import Plan, cross_check


@dataclass(frozen=True)
class PlanError:
    file: str
    line: int
    col: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.field}: {self.message}"


class PlanInvalid(Exception):
    """The plan has errors; `errors` lists each with its file position."""

    def __init__(self, errors: list[PlanError]):
        self.errors = errors
        super().__init__("\n".join(map(str, errors)))


class _Loader(yaml.SafeLoader):
    pass


# Only `null`/`~`/empty stay special; everything else is a string for pydantic to convert.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag == "tag:yaml.org,2002:null"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _positions(node, path=(), out=None, dupes=None):
    """Map each path in the document to the (line, col) where its value starts.

    Keys map to the key's position, so an unknown key is reported where it is written."""
    out = {} if out is None else out
    dupes = [] if dupes is None else dupes
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dupes.append((path + (key,), key_node.start_mark))
            seen.add(key)
            out[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _positions(value_node, path + (key,), out, dupes)
            out[path + (key, "")] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, path + (i,), out, dupes)
    return out, dupes


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def parse_plan(text: str, source: str = "config/units.yaml") -> Plan:
    """Validate the plan; raise `PlanInvalid` listing every error with its position."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PlanInvalid([PlanError(source, line, column, "(yaml)",
                                     f"{e.problem or e.context}")]) from None
    if not isinstance(data, dict):
        raise PlanInvalid([PlanError(source, 1, 1, "(document)",
                                     "the plan must be a mapping of sections (plan, issuer, units, …)")])
    positions, dupes = _positions(node)

    def at(path, message, value_pos=False) -> PlanError:
        path = tuple(path)
        probe = path
        while probe and probe not in positions:
            probe = probe[:-1]
        key = probe + ("",) if value_pos and probe + ("",) in positions else probe
        line, col = positions.get(key, (1, 1))
        return PlanError(source, line, col, _dotted(path), message)

    errors = [at(path, f"duplicate key {path[-1]!r}") for path, _ in dupes]
    try:
        plan = Plan.model_validate(data)
    except ValidationError as e:
        for err in e.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r} (a typo?)"
            elif err["type"] == "missing":
                msg = f"required field {loc[-1]!r} is missing"
            errors.append(at(loc, msg, value_pos=err["type"] not in ("extra_forbidden", "missing")))
    else:
        errors += [at(path, msg, value_pos=True) for path, msg in cross_check(plan)]
    if errors:
        raise PlanInvalid(sorted(errors, key=lambda e: (e.line, e.col)))
    return plan
