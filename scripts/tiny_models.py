"""Tiny random-weight models, defined identically here and in tests/e2e/tiny_models.h.

The weights come from a splitmix64 stream turned into float32 with the same operations
on both sides, so the C++ tests rebuild bit-identical weights without storing the file.
Used by make_reference_outputs.py to record the reference engine's outputs on
architectures that have no small real model here (qwen2).
"""
import numpy as np

MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def random_tensor(seed, n, scale, offset=0.0):
    """n float32 values: offset + (u * 2 - 1) * scale with u = (x >> 40) / 2^24, x the i-th
    splitmix64 output from `seed`, every step in float32 (vectorised; numpy uint64 wraps)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) / np.float32(16777216.0)
    v = (u * np.float32(2.0) - np.float32(1.0)) * np.float32(scale)
    return (np.float32(offset) + v).astype(np.float32) if offset else v.astype(np.float32)


def qwen2_tensors(n_vocab):
    """(name, shape [ne0, ne1], scale, offset) in the order both sides generate them."""
    E, F, L, HKV, D = 32, 64, 2, 2, 8
    out = [("token_embd.weight", [E, n_vocab], 1.0, 0.0), ("output_norm.weight", [E], 0.1, 1.0)]
    for il in range(L):
        p = f"blk.{il}."
        out += [(p + "attn_norm.weight", [E], 0.1, 1.0),
                (p + "attn_q.weight", [E, E], 0.3, 0.0), (p + "attn_q.bias", [E], 0.1, 0.0),
                (p + "attn_k.weight", [E, HKV * D], 0.3, 0.0), (p + "attn_k.bias", [HKV * D], 0.1, 0.0),
                (p + "attn_v.weight", [E, HKV * D], 0.3, 0.0), (p + "attn_v.bias", [HKV * D], 0.1, 0.0),
                (p + "attn_output.weight", [E, E], 0.3, 0.0),
                (p + "ffn_norm.weight", [E], 0.1, 1.0),
                (p + "ffn_gate.weight", [E, F], 0.3, 0.0), (p + "ffn_up.weight", [E, F], 0.3, 0.0),
                (p + "ffn_down.weight", [F, E], 0.2, 0.0)]
    return out


QWEN2_HPARAMS = {"block_count": 2, "context_length": 256, "embedding_length": 32, "feed_forward_length": 64,
                 "attention.head_count": 4, "attention.head_count_kv": 2}
QWEN2_ROPE_BASE = 1000000.0
QWEN2_EPS = 1e-6


def write_tiny_qwen2(path, vocab_path):
    """Writes the tiny qwen2 model with the tokenizer of vocab_path (ggml-vocab-qwen2.gguf)."""
    import gguf
    r = gguf.GGUFReader(vocab_path)
    n_vocab = len(r.fields["tokenizer.ggml.tokens"].data)
    w = gguf.GGUFWriter(path, "qwen2")
    w.add_name("tiny-random-qwen2")
    for k, v in QWEN2_HPARAMS.items():
        w.add_uint32(f"qwen2.{k}", v)
    w.add_float32("qwen2.rope.freq_base", QWEN2_ROPE_BASE)
    w.add_float32("qwen2.attention.layer_norm_rms_epsilon", QWEN2_EPS)
    for key, field in r.fields.items():
        if not key.startswith("tokenizer."):
            continue
        t = field.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            et = field.types[1]
            if et == gguf.GGUFValueType.STRING:
                vals = [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
            else:
                vals = [field.parts[i].tolist()[0] for i in field.data]
            w.add_array(key, vals)
        elif t == gguf.GGUFValueType.STRING:
            w.add_string(key, bytes(field.parts[field.data[0]]).decode("utf-8"))
        else:
            w.add_key_value(key, field.parts[field.data[0]].tolist()[0], t)
    for i, (name, shape, scale, offset) in enumerate(qwen2_tensors(n_vocab)):
        n = int(np.prod(shape))
        data = random_tensor(1000 + i, n, scale, offset).reshape(list(reversed(shape)))
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
