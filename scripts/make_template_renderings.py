#!/usr/bin/env python3
"""Expected renderings of chat templates, made with Python's jinja2 the way Hugging Face renders them.

Renders every template in ../shared/templates and Corvid's built-in templates (extracted from
src/chat/builtin_templates.cpp) over the conversations in tests/data/templates/conversations.json,
and writes tests/data/templates/expected/<template>.json: for each conversation either the exact
rendered prompt or, where jinja2 raises (a template that rejects a system message, a tool-only
template given no tools, ...), the error it raised. The C++ tests (tests/chat/) compare Corvid's
interpreter against these files byte for byte and need no Python.

The environment mirrors transformers' apply_chat_template (utils/chat_template_utils.py):
  jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                               extensions=[jinja2.ext.loopcontrols])
  filters["tojson"]  = json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
                                  sort_keys=sort_keys)
  globals["raise_exception"] raises TemplateError(message)
  globals["strftime_now"](fmt) = now.strftime(fmt), with `now` fixed at FIXED_NOW so the files are
  reproducible (the C++ tests inject the same time).
  render(messages=..., tools=<list or None>, documents=None, add_generation_prompt=...,
         bos_token=..., eos_token=..., **extra)
transformers' AssistantTracker extension ({% generation %}) is not reproduced: no template here uses it.

Pinned: Jinja2 == 3.1.6 (MarkupSafe 3.0.4), CPython 3.11. The renderings were made with it.

Usage: /work/venv-ref/v/bin/python scripts/make_template_renderings.py [--shared ../shared] [--out tests/data/templates]
"""
import argparse
import datetime
import json
import os
import re
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox

FIXED_NOW = datetime.datetime(2026, 1, 15, 10, 30, 0)
JINJA2_VERSION = "3.1.6"

# bos/eos per template family, as the models' tokenizers define them.
TOKENS = {
    "google-gemma-2-2b-it": ("<bos>", "<eos>"),
    "microsoft-Phi-3.5-mini-instruct": ("<s>", "<|endoftext|>"),
    "Qwen-Qwen2.5-7B-Instruct": ("", "<|im_end|>"),
    "Qwen-QwQ-32B": ("", "<|im_end|>"),
    "Qwen-Qwen3-0.6B": ("", "<|im_end|>"),
    "Qwen3-Coder": ("", "<|im_end|>"),
    "HuggingFaceTB-SmolLM3-3B": ("", "<|im_end|>"),
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": ("<|begin_of_text|>", "<|im_end|>"),
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "fireworks-ai-llama-3-firefunction-v2": ("<|begin_of_text|>", "<|eot_id|>"),
    "ibm-granite-granite-3.3-2B-Instruct": ("<|end_of_text|>", "<|end_of_text|>"),
    "meta-llama-Llama-3.1-8B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama-Llama-3.2-3B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama-Llama-3.3-70B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistralai-Mistral-Nemo-Instruct-2407": ("<s>", "</s>"),
    "unsloth-mistral-Devstral-Small-2507": ("<s>", "</s>"),
    "builtin-gemma": ("<bos>", "<eos>"),
    "builtin-chatml": ("", "<|im_end|>"),
    "builtin-llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "builtin-llama2": ("<s>", "</s>"),
    "builtin-mistral": ("<s>", "</s>"),
    "builtin-phi3": ("<s>", "<|endoftext|>"),
}


def template_extra(name, conversation):
    """Variables a template needs beyond HF's standard ones (passed as apply_chat_template kwargs)."""
    if name == "fireworks-ai-llama-3-firefunction-v2":
        # firefunction-v2 reads `functions` (the tool list as JSON text) and `datetime`.
        tools = conversation.get("tools") or []
        return {"functions": json.dumps([t["function"] for t in tools], ensure_ascii=False, indent=2),
                "datetime": FIXED_NOW.strftime("%Y-%m-%d")}
    return {}


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                      extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def builtin_templates(repo):
    src = open(os.path.join(repo, "src/chat/builtin_templates.cpp"), encoding="utf-8").read()
    found = re.findall(r'\{"(\w+)", R"TPL\((.*?)\)TPL"\}', src, re.S)
    if not found:
        sys.exit("no built-in templates found in src/chat/builtin_templates.cpp")
    return {"builtin-" + name: body for name, body in found}


def render(env, source, conversation, bos, eos, extra):
    tools = conversation.get("tools") or None
    kwargs = {"bos_token": bos, "eos_token": eos}
    kwargs.update(conversation.get("extra", {}))
    kwargs.update(extra)
    try:
        template = env.from_string(source)
        text = template.render(messages=conversation["messages"], tools=tools, documents=None,
                               add_generation_prompt=conversation["add_generation_prompt"], **kwargs)
        return {"expected": text}
    except Exception as e:  # jinja2 raised: the C++ side must raise too
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(repo, "..", "shared"))
    ap.add_argument("--out", default=os.path.join(repo, "tests", "data", "templates"))
    args = ap.parse_args()
    if jinja2.__version__ != JINJA2_VERSION:
        print(f"warning: jinja2 {jinja2.__version__}, the stored renderings were made with {JINJA2_VERSION}",
              file=sys.stderr)

    conversations = json.load(open(os.path.join(args.out, "conversations.json"), encoding="utf-8"))
    templates = {}
    tdir = os.path.join(args.shared, "templates")
    for fn in sorted(os.listdir(tdir)):
        if fn.endswith(".jinja"):
            with open(os.path.join(tdir, fn), encoding="utf-8", newline="") as f:
                templates[fn[:-len(".jinja")]] = ("shared", "templates/" + fn, f.read())
    for name, body in builtin_templates(repo).items():
        templates[name] = ("builtin", name[len("builtin-"):], body)

    env = make_env()
    outdir = os.path.join(args.out, "expected")
    os.makedirs(outdir, exist_ok=True)
    summary = []
    for name, (kind, where, source) in templates.items():
        bos, eos = TOKENS[name]
        cases = []
        for conv in conversations:
            extra = template_extra(name, conv)
            case = {"conversation": conv["name"], "extra": extra}
            case.update(render(env, source, conv, bos, eos, extra))
            cases.append(case)
        doc = {"template": name, "kind": kind, "source": where, "bos_token": bos, "eos_token": eos,
               "jinja2": jinja2.__version__, "now": FIXED_NOW.isoformat(), "cases": cases}
        if kind == "builtin":
            doc["text"] = source  # the C++ test checks the built-in table still holds this text
        with open(os.path.join(outdir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")
        ok = sum("expected" in c for c in cases)
        summary.append(f"{name}: {ok}/{len(cases)} rendered")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
