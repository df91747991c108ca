"""Turn the plan's YAML text (or bytes) into a validated `Plan`, or into a list of located errors.

Pure: takes the text and the name to report, reads no file. The YAML is read as a stream
of events from libyaml (the pure-Python parser when libyaml is missing) and built into
plain dicts, lists, strings and None here, so hostile input is refused as it is met:
aliases that would expand the document by more than `MAX_ALIASED` nodes (an alias bomb),
explicit tags, nesting deeper than `MAX_DEPTH`, a second document, control characters and
documents larger than `MAX_BYTES` never reach the schema. Every scalar is
read as a string (no YAML 1.1 surprises: `07:30` is not 450, `no` is not False, `05/12`
stays text) except an unquoted null, and pydantic converts what the schema asks for;
duplicate keys are errors. Every message is Vietnamese.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from models.plan import Plan, cross_check

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 20
MAX_ALIASED = 10_000   # nodes that aliases may add in all; the shipped plan adds a dozen


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


# Only the characters YAML itself allows, less the Unicode line separators (a plan's lines end
# with \n or \r\n, so every reported line number means the same to the clerk's editor).
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NULL = re.compile(r"~|null|Null|NULL|")
# The parser: None for libyaml's (PyYAML's own where libyaml is missing). Only its events are
# used, so its resolvers and constructors never run.
_Loader: type | None = None
_PLAIN_TAGS = {None, "!", "tag:yaml.org,2002:str"}
_COLLECTION_TAGS = {None, "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}

# libyaml's and PyYAML's syntax problems, as the clerk should read them.
_YAML_PROBLEMS = [
    (r"did not find expected key|expected <block end>", "thụt lề không khớp hoặc thiếu khóa ở đây"),
    (r"expected ',' or '\]'|did not find expected ',' or '\]'", "thiếu dấu ',' hoặc ']' của danh sách"),
    (r"expected ',' or '\}'|did not find expected ',' or '\}'", "thiếu dấu ',' hoặc '}' của bảng"),
    (r"mapping values are not allowed", "không được viết 'khóa: giá trị' ở đây (thiếu ngoặc kép hay thụt lề sai?)"),
    (r"could not find expected ':'", "thiếu dấu ':' sau khóa"),
    (r"did not find expected node content|expected the node content", "thiếu giá trị ở đây"),
    (r"did not find expected '-' indicator|expected <block end>, but found '-'",
     "mục danh sách '-' không đúng thụt lề"),
    (r"block sequence entries are not allowed", "không được bắt đầu mục danh sách '-' ở đây"),
    (r"nesting depth", f"lồng nhau quá sâu (tối đa {MAX_DEPTH} tầng)"),
    (r"tab", "dùng tab để thụt lề; hãy dùng dấu cách"),
    (r"found character that cannot start any token|found unexpected ':'",
     "ký tự này không thể mở đầu một giá trị (hãy đặt giá trị trong ngoặc kép)"),
    (r"found unexpected end of stream|end of stream", "tệp kết thúc giữa chừng (thiếu dấu đóng ngoặc?)"),
    (r"unknown escape|escape", "chuỗi thoát '\\' không hợp lệ trong ngoặc kép"),
    (r"anchor|alias", "tên neo (&) hoặc bí danh (*) không hợp lệ"),
    (r"tag", "thẻ YAML (!) không hợp lệ"),
    (r"directive|%YAML|%TAG", "chỉ thị YAML (%) không hợp lệ"),
    (r"document", "tài liệu YAML không hợp lệ"),
]


def _yaml_message(problem: str) -> str:
    for pattern, message in _YAML_PROBLEMS:
        if re.search(pattern, problem):
            return f"lỗi cú pháp YAML: {message}"
    return f"lỗi cú pháp YAML ({problem})"


def _fail(source: str, line: int, col: int, field: str, message: str) -> PlanInvalid:
    return PlanInvalid([PlanError(source, line, col, field, message)])


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of `text[index]`, lines ending at \\n, \\r\\n or a lone \\r."""
    head = text[:index].replace("\r\n", "\n").replace("\r", "\n")
    return head.count("\n") + 1, len(head) - head.rfind("\n")


def _build(text: str, source: str):
    """Build the document from parser events: (data, positions, duplicate-key paths).

    `positions` maps each path to the (line, col) of its key and `path + ("",)` to where its
    value starts, so an unknown key is reported where it is written and a bad value where it is
    (a value reached through an alias is reported at the alias). Raises PlanInvalid at an
    explicit tag, too deep nesting, a second document, or the alias that expands too much.
    Imports PyYAML here: a plan read from the cache (dondoc.plancache) needs none of it."""
    import yaml

    parser: type = _Loader if _Loader is not None else getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = parser(text)
    positions: dict[tuple, tuple[int, int]] = {}
    dupes: list[tuple] = []
    anchors: dict[str, tuple[object, int]] = {}     # name -> (value, nodes in it)
    count = {"nodes": 0, "aliased": 0}
    try:
        def pos(event) -> tuple[int, int]:
            return event.start_mark.line + 1, event.start_mark.column + 1

        def refuse(event, path, message):
            return _fail(source, *pos(event), _dotted(path), message)

        def node(path, depth):
            event = loader.get_event()
            positions[path + ("",)] = pos(event)
            positions.setdefault(path, pos(event))
            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    raise refuse(event, path, f"bí danh *{event.anchor} không trỏ tới neo &{event.anchor} "
                                              "nào đã viết xong ở phía trên")
                value, size = anchors[event.anchor]
                count["aliased"] += size
                count["nodes"] += size     # an anchor holding this alias holds all it expands to
                if count["aliased"] > MAX_ALIASED:
                    raise refuse(event, path, f"các bí danh (*) làm kế hoạch phình ra quá {MAX_ALIASED} giá trị; "
                                              "hãy viết thẳng giá trị")
                return value
            first = count["nodes"]
            count["nodes"] += 1
            value = collection(event, path, depth) if not isinstance(event, yaml.ScalarEvent) else scalar(event, path)
            if event.anchor is not None:
                anchors[event.anchor] = (value, count["nodes"] - first)
            return value

        def scalar(event, path):
            if event.tag not in _PLAIN_TAGS:
                raise refuse(event, path, f"không dùng thẻ YAML {event.tag!r}; hãy viết giá trị bình thường")
            plain_null = event.implicit[0] and event.tag is None and _NULL.fullmatch(event.value)
            return None if plain_null else event.value

        def collection(event, path, depth):
            if event.tag not in _COLLECTION_TAGS:
                raise refuse(event, path, f"không dùng thẻ YAML {event.tag!r}")
            if depth >= MAX_DEPTH:
                raise refuse(event, path, f"lồng nhau quá sâu (tối đa {MAX_DEPTH} tầng)")
            if isinstance(event, yaml.SequenceStartEvent):
                items: list = []
                while not loader.check_event(yaml.SequenceEndEvent):
                    items.append(node(path + (len(items),), depth + 1))
                loader.get_event()
                return items
            mapping: dict = {}
            while not loader.check_event(yaml.MappingEndEvent):
                key_event = loader.peek_event()
                if not isinstance(key_event, yaml.ScalarEvent) or key_event.tag not in _PLAIN_TAGS:
                    raise refuse(key_event, path,
                                 "khóa phải là một chữ đơn giản, không phải danh sách, bảng hay bí danh")
                loader.get_event()
                key = key_event.value
                if key in mapping:
                    dupes.append(path + (key,))
                positions[path + (key,)] = pos(key_event)
                mapping[key] = node(path + (key,), depth + 1)
            loader.get_event()
            return mapping

        loader.get_event()                               # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None, positions, dupes
        loader.get_event()                               # document start
        data = node((), 0)
        loader.get_event()                               # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise refuse(loader.peek_event(), (), "tệp chỉ được chứa một tài liệu YAML (gặp '---' thứ hai)")
        return data, positions, dupes
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        # At the end of a file without a final newline libyaml points one line past it.
        line, col = min((mark.line + 1, mark.column + 1) if mark else (1, 1), _line_col(text, len(text)))
        raise _fail(source, line, col, "(yaml)", _yaml_message(e.problem or e.context or "")) from None
    except yaml.YAMLError as e:   # a reader error: the character scan below makes this unreachable in practice
        raise _fail(source, 1, 1, "(yaml)", _yaml_message(str(e))) from None
    finally:
        loader.dispose()


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _kind(value) -> str:
    return {type(None): "để trống", list: "một danh sách", dict: "một bảng khóa: giá trị"}.get(
        type(value), "một chuỗi")


def _message(err) -> str:
    """pydantic's error, in Vietnamese."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    key = err["loc"][-1] if err["loc"] else ""
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and str(ctx.get("pattern", "")).startswith("^[a-z0-9]"):
        return (f"{str(got)[:80]!r} không phải mã hợp lệ: chỉ chữ thường không dấu, chữ số và dấu gạch ngang, "
                "tối đa 40 ký tự (ví dụ: bao-chi)")
    messages = {
        "missing": f"thiếu trường bắt buộc {key!r}",
        "extra_forbidden": f"khóa lạ {key!r} (gõ nhầm?)",
        "string_type": f"cần một chuỗi văn bản, không phải {_kind(got)}",
        "string_too_short": "không được để trống",
        "string_too_long": f"dài quá {ctx.get('max_length')} ký tự "
                           f"(đang có {len(got) if isinstance(got, str) else '?'})",
        "string_pattern_mismatch": f"không đúng dạng {ctx.get('pattern')}",
        "list_type": f"cần một danh sách (ví dụ [a, b] hoặc các dòng '- …'), không phải {_kind(got)}",
        "dict_type": f"cần một bảng khóa: giá trị, không phải {_kind(got)}",
        "model_type": f"cần một bảng khóa: giá trị, không phải {_kind(got)}",
        "model_attributes_type": f"cần một bảng khóa: giá trị, không phải {_kind(got)}",
        "int_type": f"cần một số nguyên, không phải {_kind(got)}",
        "int_parsing": f"cần một số nguyên, không phải {str(got)[:40]!r}",
        "int_from_float": "cần một số nguyên",
        "greater_than_equal": f"phải lớn hơn hoặc bằng {ctx.get('ge')}",
        "greater_than": f"phải lớn hơn {ctx.get('gt')}",
        "less_than_equal": f"phải nhỏ hơn hoặc bằng {ctx.get('le')}",
        "less_than": f"phải nhỏ hơn {ctx.get('lt')}",
        "too_short": f"cần ít nhất {ctx.get('min_length')} mục",
        "too_long": f"nhiều nhất {ctx.get('max_length')} mục",
        "literal_error": f"phải là {ctx.get('expected')}",
        "bool_type": "cần true hoặc false",
        "bool_parsing": "cần true hoặc false",
        "date_type": "cần một ngày dạng DD/MM/YYYY",
        "date_parsing": "cần một ngày dạng DD/MM/YYYY",
        "date_from_datetime_parsing": "cần một ngày dạng DD/MM/YYYY",
        "time_type": "cần một giờ dạng HH:MM",
        "time_parsing": "cần một giờ dạng HH:MM",
    }
    return messages.get(kind, f"giá trị không hợp lệ ({kind})")


def parse_plan_bytes(data: bytes, source: str = "config/units.yaml") -> Plan:
    """Decode the file's bytes as UTF-8 (a leading BOM allowed) and validate the plan; raise
    `PlanInvalid` with the line and column of the first byte that is not UTF-8."""
    if len(data) > MAX_BYTES:
        raise _fail(source, 1, 1, "(document)", f"tệp kế hoạch quá lớn ({len(data) / 1048576:.1f} MB; "
                                                f"tối đa {MAX_BYTES // 1048576} MB)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        head = data[:e.start].decode("utf-8", errors="replace")
        line, col = _line_col(head, len(head))
        raise _fail(source, line, col, "(document)",
                    f"tệp không phải UTF-8: byte 0x{data[e.start]:02X} không hợp lệ; "
                    "hãy lưu tệp với bảng mã UTF-8") from None
    return parse_plan(text, source)


def parse_plan(text: str, source: str = "config/units.yaml") -> Plan:
    """Validate the plan; raise `PlanInvalid` (and nothing else) listing every error with its position."""
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_BYTES:
        raise _fail(source, 1, 1, "(document)", f"tệp kế hoạch quá lớn (tối đa {MAX_BYTES // 1048576} MB)")
    bad = _FORBIDDEN.search(text)
    if bad:
        raise _fail(source, *_line_col(text, bad.start()), "(document)",
                    f"ký tự điều khiển U+{ord(bad[0]):04X} không được có trong tệp kế hoạch")
    data, positions, dupes = _build(text, source)
    if not isinstance(data, dict):
        raise _fail(source, 1, 1, "(document)",
                    "kế hoạch phải là một bảng các mục (plan, issuer, units, …)")

    def at(path, message, value_pos=False) -> PlanError:
        path = tuple(path)
        probe = path
        while probe and probe not in positions:
            probe = probe[:-1]
        key = probe + ("",) if value_pos and probe + ("",) in positions else probe
        line, col = positions.get(key, (1, 1))
        return PlanError(source, line, col, _dotted(path), message)

    errors = [at(path, f"khóa {path[-1]!r} bị lặp lại") for path in dupes]
    from pydantic import ValidationError
    try:
        plan = Plan.model_validate(data)
    except ValidationError as e:
        for err in e.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            errors.append(at(loc, _message(err), value_pos=err["type"] not in ("extra_forbidden", "missing")))
    else:
        errors += [at(path, msg, value_pos=True) for path, msg in cross_check(plan)]
    if errors:
        raise PlanInvalid(sorted(errors, key=lambda e: (e.line, e.col)))
    return plan
