#!/usr/bin/env python3
"""Constrained generation on a real model: every output must parse and validate.

Runs `corvid run` under each grammar / schema with several seeds and temperatures, checks
each output with an independent judge (json + jsonschema with its FormatChecker, a Python
regex for the GBNF cases) and writes the outputs and verdicts to
tests/data/grammar/generation_results.json.

  .venv-ref/bin/python scripts/grammar_generate_check.py build/tools/corvid models/gemma-3-270m-q4_k_m.gguf
"""
import json
import pathlib
import re
import subprocess
import sys

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "grammar"

CASES = [
    # name, flags, prompt, judge
    ("json-any", ["--json"], "A JSON object describing a cat: ", "json"),
    ("schema-cat", ["--json-schema", json.dumps({
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0, "maximum": 30},
                       "color": {"enum": ["black", "white", "tabby"]}, "toys": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}},
        "required": ["name", "age", "color"], "additionalProperties": False})], "A JSON record of a cat: ", "schema"),
    ("schema-large", ["--json-schema", str(DATA / "large_schema.json")], "An order in JSON: ", "schema"),
    ("schema-formats", ["--json-schema", json.dumps({
        "type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "id": {"type": "string", "format": "uuid"},
                                          "mail": {"type": "string", "format": "email"}, "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}},
        "required": ["when", "id", "mail", "code"], "additionalProperties": False})], "Event: ", "schema"),
    ("gbnf-list", ["--grammar-text", 'root ::= ("- " item "\\n"){2,4}\nitem ::= [A-Za-z][a-z ]{2,20}'], "Shopping list:\n", r"(- [A-Za-z][a-z ]{2,20}\n){2,4}"),
    ("gbnf-answer", ["--grammar-text", 'root ::= ("yes" | "no") ", because " [a-z ,]{5,40} "."'], "Is the sky blue? Answer: ",
     r"(yes|no), because [a-z ,]{5,40}\."),
]
SETTINGS = [["--temp", "0"], ["--temp", "0.8", "--seed", "1"], ["--temp", "1.2", "--seed", "2", "--top-k", "0", "--top-p", "1", "--min-p", "0"]]


def main():
    corvid, model = sys.argv[1], sys.argv[2]
    results, failures = [], 0
    for name, flags, prompt, judge in CASES:
        schema = None
        if judge == "schema":
            arg = flags[1]
            schema = json.loads(arg if arg.lstrip().startswith("{") else pathlib.Path(arg).read_text())
        for st in SETTINGS:
            n = "1500" if name == "schema-large" else "400"
            cmd = [corvid, "run", "-m", model, "-p", prompt, "-n", n, *st, *flags]
            p = subprocess.run(cmd, capture_output=True, text=True)
            out = p.stdout
            if p.returncode != 0 or not out.startswith(prompt):
                verdict, why = False, f"rc {p.returncode}: {p.stderr.strip()[-200:]}"
            else:
                text = out[len(prompt):]
                text = text[:-1] if text.endswith("\n") else text  # corvid run ends with a newline
                ended = f"generation {n} tokens" not in p.stderr  # stopped at end-of-generation, not the limit
                try:
                    if judge == "json":
                        json.loads(text)
                    elif judge == "schema":
                        v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
                        v.validate(json.loads(text))
                    elif not re.fullmatch(judge, text):
                        raise ValueError("does not match " + judge)
                    verdict, why = True, "ok" if ended else "ok (hit the token limit)"
                except Exception as e:  # noqa: BLE001 - any failure is a verdict
                    verdict, why = (False, f"{type(e).__name__}: {str(e)[:200]}") if ended else (None, "cut at the token limit")
            failures += verdict is False
            results.append({"case": name, "settings": " ".join(st), "output": out[len(prompt):] if out.startswith(prompt) else out,
                            "valid": verdict, "note": why})
            print(f"{name:15s} {' '.join(st):50s} {why}")
    (DATA / "generation_results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(results)} generations, {failures} invalid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
