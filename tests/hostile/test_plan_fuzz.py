"""Hostile plan files: seeded mutations of the shipped plan and of the MINI plan.

Every generated file must either validate or raise PlanInvalid whose errors lie inside the
file, in Vietnamese, within a per-file time limit; nothing else may escape. The alias bomb
and the deep nesting also go through the real command, which must print located errors and
exit 1 without a traceback."""
from __future__ import annotations

import random
import re
import subprocess
import sys
import time

import pytest
import yaml

from models import loader
from models.loader import PlanInvalid, parse_plan_bytes
from tests.conftest import MINI, ROOT, SHIPPED

SEED = 30_2020
LIMIT_S = 10.0   # a hang guard per file (the "time limit per file"), not a speed target: bench/ has those
KEY_LINE = re.compile(r"^(\s*(?:- )?)([A-Za-z_]+):(.*)$")
EMPTIES = ["", " ~", ' ""', " []", " {}", " null", " -", " [~]", " {a: ~}"]
SWAPS = [" [{v}]", " {{x: {v}}}", "\n  - {v}", " [[{v}]]", " '{v}'", " [{v}, [{v}]]", " {{{v}: [{v}]}}"]
BAD_VALUES = ["31/02", "00/00", "5/13", "99:99", "24:00", "7h30", "-1", "0", "1e9", "99999999999999999999",
              "99 99 * * *", "* * * *", "*/0 * * * *", "5-1 * * * *", "a b c d e", "1,,2 * * * *",
              "gmail.com", "yandex.ru", "@", "x@", "a@b", "true", "yes", "Asia/Hanoi", "'", '"', "{", "[",
              "&a x", "*a", "!!int 5", "!!binary aGk=", "? x", "|\n  văn bản\n", ">-\n  a\n  b"]
CONTROLS = ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\ud800"]
NOT_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80"]
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9))


# MINI with every optional section written out key by key, so each of their fields gets emptied too.
FULL = MINI.replace("  id: kh-test\n", "  id: kh-test\n  number: 45/KH-STTTT\n  signed_on: 02/01/2026\n").replace(
    "    emails: [vanthu@som.example]\n", "    emails: [vanthu@som.example]\n    domains: [som.example]\n") + """\
calendar:
  timezone: Asia/Ho_Chi_Minh
  working_hours:
    start: "07:30"
    end: "17:00"
  days_off:
    - 02/09/2026
  working_days:
    - 10/01/2026
schedules:
  dispatch: 0 8 * * 1-5
  collect: "*/15 7-16 * * 1-5"
  escalate: 30 8 * * 1-5
  report: 0 9 * * 1-5
"""


def deep(n: int, block: bool) -> str:
    if block:
        return "".join(f"{' ' * i}k{i}:\n" for i in range(n)) + " " * n + "v\n"
    return "plan: " + "[" * n + "x" + "]" * n + "\n"


def mutations(name: str, text: str, rng: random.Random, every_empty: bool):
    """(case id, bytes) for every kind of damage; deterministic for a given rng. Every field is
    emptied: with each of EMPTIES when `every_empty`, else with one of them picked at random."""
    lines = text.splitlines(keepends=True)
    raw = text.encode()
    keyed = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]

    def key_line(i, value):
        m = KEY_LINE.match(lines[i].rstrip("\n"))
        return "".join(lines[:i]) + f"{m[1]}{m[2]}:{value}\n" + "".join(lines[i + 1:])

    for i in keyed:                                              # null/empty in every field
        for empty in EMPTIES if every_empty else [rng.choice(EMPTIES)]:
            yield f"{name}:empty:{i}:{empty!r}", key_line(i, empty).encode()
    for n in range(120):                                         # type swaps
        i = rng.choice(keyed)
        value = KEY_LINE.match(lines[i].rstrip("\n"))[3].strip() or "x"
        yield f"{name}:swap:{n}", key_line(i, rng.choice(SWAPS).format(v=value)).encode()
    for n in range(120):                                         # wrong values anywhere
        yield f"{name}:bad:{n}", key_line(rng.choice(keyed), " " + rng.choice(BAD_VALUES)).encode()
    for n in range(60):                                          # truncation
        yield f"{name}:cut:{n}", raw[:rng.randrange(len(raw))]
    for n in range(100):                                         # byte flips
        data = bytearray(raw)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield f"{name}:flip:{n}", bytes(data)
    for n in range(30):                                          # bytes that are not UTF-8
        at = rng.randrange(len(raw))
        yield f"{name}:utf8:{n}", raw[:at] + rng.choice(NOT_UTF8) + raw[at:]
    for n in range(40):                                          # control characters
        at = rng.randrange(len(text))
        yield f"{name}:ctl:{n}", (text[:at] + rng.choice(CONTROLS) + text[at:]).encode("utf-8", "surrogatepass")
    for n in range(60):                                          # deleted, duplicated, swapped lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        edit = [lines[:i] + lines[i + 1:], lines[:i + 1] + lines[i:], lines[:i] + [lines[j]] + lines[i + 1:],
                lines[:i] + lines[i + rng.randint(2, 9):]][n % 4]
        yield f"{name}:lines:{n}", "".join(edit).encode()
    for n, size in enumerate([201, 255, 10_000, 1_000_000, 4_000_000]):   # huge strings
        yield f"{name}:huge:{n}", key_line(rng.choice(keyed), " " + "ạ" * (size // 2)).encode()
    yield f"{name}:email-300", text.replace("@", "a" * 300 + "@", 1).encode()
    yield f"{name}:over-5mb", raw + b"#" * (5 * 1024 * 1024)
    for n, depth in enumerate([19, 21, 50, 1000, 100_000]):              # deep nesting
        yield f"{name}:deep-flow:{n}", (text + deep(depth, False)).encode()
        yield f"{name}:deep-block:{n}", (text + deep(min(depth, 3000), True)).encode()
    yield f"{name}:alias-bomb", (text + ALIAS_BOMB).encode()
    yield f"{name}:alias-undefined", text.replace("tasks:", "tasks: *nothing\nold:", 1).encode()
    yield f"{name}:alias-key", (text + "x: &k a\n*k : b\n").encode()
    yield f"{name}:two-documents", (text + "---\nplan: {}\n").encode()
    yield f"{name}:python-tag", (text + "x: !!python/object/apply:os.system [echo hi]\n").encode()
    yield f"{name}:complex-key", (text + "? [a, b]\n: c\n").encode()
    yield f"{name}:merge-key", text.replace("policy:\n", "policy:\n  <<: {a: 1}\n", 1).encode()
    yield f"{name}:bom-crlf", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    yield f"{name}:tabs", text.replace("  ", "\t").encode()
    yield f"{name}:scalar-doc", b"just text\n"
    yield f"{name}:list-doc", b"- plan\n- units\n"
    yield f"{name}:empty", b""
    yield f"{name}:comment-only", b"# nothing\n"


def cases():
    rng = random.Random(SEED)
    return [*mutations("mini", MINI, rng, True), *mutations("full", FULL, rng, True),
            *mutations("shipped", SHIPPED.read_text(encoding="utf-8"), rng, False)]


# pydantic's own English, which must never reach a clerk, and the loader's fallback for a kind it
# does not know (a new kind the plan can produce must be given its Vietnamese message).
ENGLISH = re.compile(r"Input should|Value error|Field required|String should|List should|value is not a valid|"
                     r"Extra inputs|giá trị không hợp lệ \(")


def check(case: str, data: bytes) -> list[str]:
    """Parse one file; the problems found with how it was refused (empty: handled well)."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = time.perf_counter()
    try:
        parse_plan_bytes(data, "plan.yaml")
        errors = []
    except PlanInvalid as e:
        errors = e.errors
        assert errors, case
    took = time.perf_counter() - start
    problems = [f"{case}: took {took:.2f} s"] if took > LIMIT_S else []
    for e in errors:
        if not (1 <= e.line <= len(lines) and 1 <= e.col <= len(lines[e.line - 1]) + 1):
            problems.append(f"{case}: outside the file ({len(lines)} lines): {str(e)[:200]}")
        if ENGLISH.search(e.message):
            problems.append(f"{case}: not Vietnamese: {str(e)[:200]}")
    return problems


def test_the_bases_load():
    for text in (MINI, FULL):
        assert parse_plan_bytes(text.encode(), "plan.yaml").plan.id == "kh-test"


def test_every_broken_plan_is_refused_with_located_errors_or_loads():
    all_cases = cases()
    assert len(all_cases) >= 1000
    problems = [p for case, data in all_cases for p in check(case, data)]
    assert not problems, "\n".join(problems[:30])


def test_the_pure_python_parser_refuses_the_same_way(monkeypatch):
    # Where libyaml is missing the loader falls back to PyYAML's own parser: same guarantees.
    monkeypatch.setattr(loader, "_Loader", type("_PyLoader", (yaml.SafeLoader,), {}))
    sample = random.Random(SEED).sample(cases(), 100)
    sample += [c for c in cases() if c[0].endswith(("alias-bomb", "deep-flow:4", "deep-block:4", "two-documents"))]
    problems = [p for case, data in sample for p in check(case, data)]
    assert not problems, "\n".join(problems[:30])


def test_the_fuzz_cases_are_refused_for_the_right_reason():
    by_case = dict(cases())

    def first(case):
        with pytest.raises(PlanInvalid) as e:
            parse_plan_bytes(by_case[case], "plan.yaml")
        return e.value.errors[0]

    assert "bí danh" in first("mini:alias-bomb").message
    assert "lồng nhau quá sâu" in first("mini:deep-flow:4").message
    assert "lồng nhau quá sâu" in first("shipped:deep-block:2").message
    assert "một tài liệu YAML" in first("mini:two-documents").message
    assert "thẻ YAML" in first("mini:python-tag").message
    assert "quá lớn" in first("mini:over-5mb").message
    assert "254" in first("mini:email-300").message


@pytest.mark.parametrize("case", ["mini:alias-bomb", "mini:deep-flow:4", "shipped:deep-block:4"])
def test_the_command_prints_located_errors_without_a_traceback(tmp_path, case):
    path = tmp_path / "plan.yaml"
    path.write_bytes(dict(cases())[case])
    done = subprocess.run([sys.executable, "-m", "dondoc.cli", "validate", str(path)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: ", done.stderr, re.MULTILINE), done.stderr
