#!/usr/bin/env python3
"""Cross-checks `corvid info --json` against the gguf package's reader (PyPI `gguf`).

Every metadata key (type and full value, arrays included) and every tensor record
(name, type, shape, absolute offset, size) must agree. Usage:
    python scripts/compare_info_with_gguf_py.py build/tools/corvid FILE.gguf...
Needs `pip install gguf==0.19.0 numpy`. Exit status 1 on any difference.
"""
import json, math, subprocess, sys

import gguf
from gguf import GGUFReader, GGUFValueType

TYPE_NAMES = {v: k.lower() for k, v in GGUFValueType.__members__.items()}
TYPE_NAMES[GGUFValueType.FLOAT32] = "float32"
TYPE_NAMES[GGUFValueType.FLOAT64] = "float64"


def py_value(field):
    t = field.types[0]
    if t == GGUFValueType.ARRAY:
        et = field.types[1] if len(field.types) > 1 else None
        items = []
        for idx in field.data:
            part = field.parts[idx]
            if et == GGUFValueType.STRING:
                items.append(bytes(part).decode("utf-8", errors="surrogateescape"))
            else:
                items.append(part.tolist()[0])
        return "array", (TYPE_NAMES[et] if et is not None else None), items
    part = field.parts[field.data[0]]
    if t == GGUFValueType.STRING:
        return TYPE_NAMES[t], None, bytes(part).decode("utf-8", errors="surrogateescape")
    return TYPE_NAMES[t], None, part.tolist()[0]


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return False
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-7 * max(abs(a), abs(b))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    return a == b


def main():
    corvid, files = sys.argv[1], sys.argv[2:]
    bad = 0
    for path in files:
        out = subprocess.run([corvid, "info", "--json", "--array-items", "0", path], check=True,
                             capture_output=True).stdout
        ours = json.loads(out.decode("utf-8", errors="surrogateescape"))
        r = GGUFReader(path)
        problems = []
        py_keys = [k for k in r.fields if not k.startswith("GGUF.")]
        if py_keys != list(ours["metadata"].keys()):
            problems.append("key order/set differs")
        for k in py_keys:
            t, et, v = py_value(r.fields[k])
            o = ours["metadata"].get(k)
            if o is None:
                problems.append(f"missing key {k}")
                continue
            if o["type"] != t or (et and o["elem_type"] != et):
                problems.append(f"{k}: type {o['type']}/{o.get('elem_type')} vs {t}/{et}")
                continue
            ov = o["items"] if t == "array" else o["value"]
            if t == "array":
                if len(ov) != len(v) or not all(same(a, b) for a, b in zip(ov, v)):
                    problems.append(f"{k}: array values differ")
            elif not same(ov, v):
                problems.append(f"{k}: {ov!r} vs {v!r}")
        if len(r.tensors) != len(ours["tensors"]):
            problems.append("tensor count differs")
        for pt, ot in zip(r.tensors, ours["tensors"]):
            want = (pt.name, pt.tensor_type.name.lower(), [int(x) for x in pt.shape], int(pt.data_offset), int(pt.n_bytes))
            got = (ot["name"], ot["type"].lower(), ot["shape"], ot["offset"], ot["bytes"])
            if want != got:
                problems.append(f"tensor {pt.name}: {got} vs {want}")
        print(("OK   " if not problems else "FAIL ") + path + "".join("\n     " + p for p in problems[:10]))
        bad += bool(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
