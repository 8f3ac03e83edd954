#!/usr/bin/env python3
"""Reference verdicts for the grammar tests (tests/grammar/test_grammar_reference.cpp).

Writes tests/data/grammar/json_cases.json and schema_cases.json: strings with the verdict of
an independent judge, so the C++ tests need no Python.

  json_cases:   Python's json module decides validity (strict: no NaN/Infinity), plus the
                one formatting rule the built-in grammar adds: white space between tokens is
                empty or one of " \\t\\n" followed by at most 20 spaces/tabs, and none at the
                ends. The grammar must accept exactly the valid ones.
  schema_cases: jsonschema (Draft 2020-12, with its FormatChecker) decides validity. Every
                invalid instance must be rejected; valid instances written as the converter
                writes them (properties in schema order, ", "/": " or compact separators) must
                be accepted ("canonical": true); mutants that happen to be valid may go either
                way (the grammar is a subset).

Run with the reference venv:  /work/venv-ref/v/bin/python scripts/grammar_make_cases.py
(pip install jsonschema==4.26.0).
"""
import json
import pathlib
import random
import re

import jsonschema

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "grammar"
rng = random.Random(20261122)

WS_OK = re.compile(r"([ \t\n][ \t]{0,20})?")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def json_valid(s):
    try:
        json.loads(s, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError):
        return False
    if s != s.strip(" \t\n\r"):
        return False
    # White space runs outside strings must fit the grammar's bounded white space.
    outside = STRING.sub("S", s)
    for run in re.findall(r"[ \t\n\r]+", outside):
        if not WS_OK.fullmatch(run):
            return False
    return True


def rand_string():
    alphabet = ["a", "b", "Z", " ", "é", "€", "😀", "\\", '"', "\n", "\t", "/", "\u0001", "中"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))


def rand_value(depth=0):
    k = rng.randint(0, 7 if depth < 3 else 4)
    if k == 0:
        return rng.choice([True, False, None])
    if k == 1:
        return rng.randint(-10**6, 10**6)
    if k == 2:
        return rng.choice([0.5, -1.25e-7, 3.0e21, 1e-3, 12345.678])
    if k in (3, 4):
        return rand_string()
    if k in (5, 6):
        return {rand_string(): rand_value(depth + 1) for _ in range(rng.randint(0, 3))}
    return [rand_value(depth + 1) for _ in range(rng.randint(0, 3))]


def dumps_variants(v):
    yield json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    yield json.dumps(v, ensure_ascii=False)
    yield json.dumps(v, ensure_ascii=True, indent=2)
    yield json.dumps(v, ensure_ascii=False, indent="\t")


def mutate(s):
    if not s:
        return "x"
    i = rng.randrange(len(s))
    op = rng.randint(0, 3)
    pieces = ['"', ",", ":", "}", "]", "{", "[", " ", "\n\n", "\\", "0", "-", ".", "e", "tru", "nul", "\u0002", "é"]
    if op == 0:
        return s[:i] + s[i + 1:]
    if op == 1:
        return s[:i] + rng.choice(pieces) + s[i:]
    if op == 2:
        return s[:i] + rng.choice(pieces) + s[i + 1:]
    j = rng.randrange(len(s))
    i, j = min(i, j), max(i, j)
    return s[:i] + s[j:j + 1] + s[i + 1:j] + s[i:i + 1] + s[j + 1:]


def make_json_cases():
    cases = []
    fixed = ["{}", "[]", "0", "-0", "1e5", "1E-5", "0.0", "01", "1.", ".5", "-", "+1", "NaN", "Infinity", "true", "tru",
             '"\\u00e9"', '"\\ud83d\\ude00"', '"\\x41"', '"a\\/b"', "[1,]", "{\"a\":1,}", "{\"a\" : 1}", " 1", "1 ",
             "[\n" + " " * 21 + "1]", "[\n" + " " * 20 + "1]", "[\r\n1]", "\"\t\"", '"\u007f"', "[1 2]", '{"a" "b"}']
    for s in fixed:
        cases.append(s)
    for _ in range(300):
        v = rand_value()
        for s in dumps_variants(v):
            cases.append(s)
            cases.append(mutate(s))
            cases.append(mutate(mutate(s)))
    seen, out = set(), []
    for s in cases:
        if s in seen:
            continue
        seen.add(s)
        out.append({"text": s, "valid": json_valid(s)})
    return out


SCHEMAS = {
    "types": {"type": "object", "properties": {"s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
                                                "b": {"type": "boolean"}, "z": {"type": "null"}},
              "required": ["s", "i", "n", "b", "z"], "additionalProperties": False},
    "optional": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}},
                 "required": ["b"], "additionalProperties": False},
    "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
    "enum_const": {"type": "object", "properties": {"e": {"enum": ["red", "green", 3, None, {"k": [1]}]}, "c": {"const": "fixed"}},
                   "required": ["e", "c"], "additionalProperties": False},
    "array": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4},
    "strlen": {"type": "string", "minLength": 2, "maxLength": 5},
    "pattern": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}(x|yz)?$"},
    "formats": {"type": "object", "properties": {"d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "time"},
                                                  "dt": {"type": "string", "format": "date-time"},
                                                  "u": {"type": "string", "format": "uuid"}, "m": {"type": "string", "format": "email"}},
                "required": ["d", "t", "dt", "u", "m"], "additionalProperties": False},
    "intrange": {"type": "array", "items": {"type": "integer", "minimum": -37, "maximum": 1205}},
    "intexcl": {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 100}},
    "nonneg": {"type": "array", "items": {"type": "number", "minimum": 0}},
    "anyof": {"type": "array", "items": {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer", "minimum": 0}]}},
    "allof": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
    "refs": {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                                   "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                                "required": ["v"], "additionalProperties": False}},
             "$ref": "#/$defs/node"},
    "nullable": {"type": "object", "properties": {"a": {"type": ["string", "null"]}, "b": {"type": ["integer", "null"]}},
                 "required": ["a", "b"], "additionalProperties": False},
    "any": {},
}

VALID = {
    "types": [{"s": "x", "i": -3, "n": 2.5, "b": True, "z": None}, {"s": "", "i": 0, "n": -1e-3, "b": False, "z": None}],
    "optional": [{"b": "x"}, {"a": 1, "b": "y"}, {"b": "z", "c": True}, {"a": 2, "b": "", "c": False}],
    "extra": [{}, {"k": 1}, {"a": 1, "b": -2}],
    "enum_const": [{"e": "red", "c": "fixed"}, {"e": 3, "c": "fixed"}, {"e": None, "c": "fixed"}, {"e": {"k": [1]}, "c": "fixed"}],
    "array": [[1, 2], [1, 2, 3, 4]],
    "strlen": ["ab", "abcde", "é€😀", "a\"\\"],
    "pattern": ["AB-123", "ZZ-000x", "QA-999yz"],
    "formats": [{"d": "2024-02-28", "t": "12:30:59Z", "dt": "1999-12-31T23:59:59.5+01:00", "u": "123e4567-e89b-12d3-a456-426614174000",
                 "m": "a.b@example.com"}],
    "intrange": [[-37, 0, 5, 99, 1205, 1000, -9, 120]],
    "intexcl": [[10, 99, 50]],
    "nonneg": [[0, 1.5, 3e2, 0.0]],
    "anyof": [["ab", 7, "", 0]],
    "allof": [{"a": 1, "b": "x"}],
    "refs": [{"v": 1}, {"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4, "kids": []}]}]}],
    "nullable": [{"a": None, "b": None}, {"a": "s", "b": 3}],
    "any": [[1, {"a": None}], "s", 3.5],
}

INVALID = {
    "types": [{"s": 1, "i": 0, "n": 1, "b": True, "z": None}, {"s": "x", "i": 1.5, "n": 1, "b": True, "z": None},
              {"s": "x", "i": 1, "n": 1, "b": True}, {"s": "x", "i": 1, "n": 1, "b": True, "z": None, "w": 1}],
    "optional": [{}, {"a": 1}, {"a": "1", "b": "x"}, {"b": "x", "d": 1}],
    "extra": [{"k": "v"}, {"k": 1.5}, []],
    "enum_const": [{"e": "blue", "c": "fixed"}, {"e": "red", "c": "other"}, {"e": {"k": [2]}, "c": "fixed"}],
    "array": [[1], [1, 2, 3, 4, 5], [1, "2"], {}],
    "strlen": ["a", "abcdef", "", 5],
    "pattern": ["ab-123", "AB-12", "AB-1234", "AB-123y", "XAB-123"],
    "formats": [{"d": "2024-13-01", "t": "12:30:59Z", "dt": "1999-12-31T23:59:59Z", "u": "123e4567-e89b-12d3-a456-426614174000", "m": "a@b.c"},
                {"d": "2024-02-30", "t": "12:30:59Z", "dt": "1999-12-31T23:59:59Z", "u": "123e4567-e89b-12d3-a456-426614174000", "m": "a@b.c"},
                {"d": "2024-01-01", "t": "25:00:00Z", "dt": "1999-12-31T23:59:59Z", "u": "123e4567-e89b-12d3-a456-426614174000", "m": "a@b.c"},
                {"d": "2024-01-01", "t": "12:00:00Z", "dt": "1999-12-31T23:59:59Z", "u": "123e4567-e89b-12d3-a456-42661417400", "m": "a@b.c"},
                {"d": "2024-01-01", "t": "12:00:00Z", "dt": "1999-12-31 23:59:59Z", "u": "123e4567-e89b-12d3-a456-426614174000", "m": "a@b.c"}],
    "intrange": [[-38], [1206], [2000], [-100], [1.5]],
    "intexcl": [[9], [100], [8], [101]],
    "nonneg": [[-1], [-0.5]],
    "anyof": [["abc"], [-1], [1.5], [None]],
    "allof": [{"a": 1}, {"b": "x"}, {"a": "1", "b": "x"}],
    "refs": [{"kids": []}, {"v": 1, "kids": [{"v": "2"}]}, {"v": 1, "kids": [{}]}],
    "nullable": [{"a": 1, "b": None}, {"a": None, "b": "x"}],
    "any": [],
}


def make_schema_cases():
    out = []
    for name, schema in SCHEMAS.items():
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        texts = []
        for v in VALID[name]:
            for s in (json.dumps(v, ensure_ascii=False, separators=(",", ":")), json.dumps(v, ensure_ascii=False)):
                texts.append((s, True))
        for v in INVALID[name]:
            texts.append((json.dumps(v, ensure_ascii=False), False))
        for s, _ in list(texts):
            for _ in range(8):
                texts.append((mutate(s), False))
        seen = set()
        for s, canonical in texts:
            if s in seen:
                continue
            seen.add(s)
            try:
                value = json.loads(s)
                valid = json_valid(s) and validator.is_valid(value)
            except ValueError:
                valid = False
            if canonical:
                assert valid, (name, s)
            out.append({"schema": name, "text": s, "valid": valid, "canonical": canonical})
    return {"schemas": SCHEMAS, "cases": out}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    jc = make_json_cases()
    (OUT / "json_cases.json").write_text(json.dumps(jc, ensure_ascii=False, indent=0) + "\n")
    sc = make_schema_cases()
    (OUT / "schema_cases.json").write_text(json.dumps(sc, ensure_ascii=False, indent=0) + "\n")
    print(f"json: {len(jc)} cases ({sum(c['valid'] for c in jc)} valid); "
          f"schema: {len(sc['cases'])} cases ({sum(c['valid'] for c in sc['cases'])} valid)")


if __name__ == "__main__":
    main()
