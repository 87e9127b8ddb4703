"""Model shapes shared by the GPU check scripts (make_checkpoint.py, torch_bench.py).

The same names as hix-bench's and hix-model-run's presets where they overlap
(gpt2-small, llama-1b, llama-8b); the tiny shapes are our own, small enough
for the CPU backend yet with a vocabulary large enough that greedy argmax over
it means something. Dropout is zeroed so a model left in training mode by
mistake still computes the same function.

The families of issue 14 come twice: tiny shapes whose feature shows in a
short sequence (tiny-llama3-scaled: Llama 3's rope_scaling with a small
original context; tiny-qwen2: q/k/v biases and tied embeddings; tiny-mistral:
a sliding window and a head_dim of its own), and the published configs of
Llama-3.2-1B, Qwen2.5-0.5B and Mistral-7B-v0.1 (tests/model/data/configs),
read by the config class's from_dict as from_pretrained reads a config.json.
Mistral 7B keeps 4 of its 32 layers (mistral-7b-4l): every other field is as
published, and the checkpoint stays near 2 GB in bfloat16.

Only the standard library is imported at module level: transformers is
imported inside the functions, so py_compile (the CI check) needs nothing.
"""

import json
import os

# shape name -> (arch, keyword arguments of the arch's config class)
_GPT2_COMMON = {
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-5,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
    "initializer_range": 0.02,
    "n_inner": None,
}

_LLAMA_COMMON = {
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_scaling": None,
    "attention_bias": False,
    "mlp_bias": False,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
}

SHAPES = {
    "tiny-gpt2": ("gpt2", dict(_GPT2_COMMON, vocab_size=512, n_embd=64, n_layer=2, n_head=4,
                               n_positions=128, bos_token_id=511, eos_token_id=511)),
    "gpt2-small": ("gpt2", dict(_GPT2_COMMON, vocab_size=50257, n_embd=768, n_layer=12,
                                n_head=12, n_positions=1024, bos_token_id=50256,
                                eos_token_id=50256)),
    # Untied lm_head and grouped KV heads (4 query heads on 2 KV heads).
    "tiny-llama": ("llama", dict(_LLAMA_COMMON, vocab_size=512, hidden_size=64,
                                 num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, head_dim=16, intermediate_size=128,
                                 tie_word_embeddings=False, rope_theta=10000.0,
                                 max_position_embeddings=256)),
    # tiny-llama with Llama 3's RoPE base: saved by transformers 5 the base is
    # only in rope_parameters, so a reader of transformers 4's layout alone
    # would run 10000 and diverge from the reference (issue 16).
    "tiny-llama-rope500k": ("llama", dict(_LLAMA_COMMON, vocab_size=512, hidden_size=64,
                                          num_hidden_layers=2, num_attention_heads=4,
                                          num_key_value_heads=2, head_dim=16,
                                          intermediate_size=128, tie_word_embeddings=False,
                                          rope_theta=500000.0, max_position_embeddings=256)),
    # Llama 3.2 1B's shape.
    "llama-1b": ("llama", dict(_LLAMA_COMMON, vocab_size=128256, hidden_size=2048,
                               num_hidden_layers=16, num_attention_heads=32,
                               num_key_value_heads=8, head_dim=64, intermediate_size=8192,
                               tie_word_embeddings=True, rope_theta=500000.0,
                               max_position_embeddings=4096)),
    # Llama 3's frequency scaling with an original context of 64 positions:
    # of 8 rotary pairs (wavelengths 2pi*10000^(i/8)) one is kept, two are
    # blended and five divided by 32, all within the check's 31 positions.
    "tiny-llama3-scaled": ("llama", dict(_LLAMA_COMMON, vocab_size=512, hidden_size=64,
                                         num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, head_dim=16,
                                         intermediate_size=128, tie_word_embeddings=False,
                                         rope_theta=10000.0, max_position_embeddings=1024,
                                         rope_scaling={"rope_type": "llama3", "factor": 32.0,
                                                       "low_freq_factor": 1.0,
                                                       "high_freq_factor": 8.0,
                                                       "original_max_position_embeddings": 64})),
    # Qwen2: q/k/v biases (make_checkpoint.py --bias-std draws them: transformers
    # zeroes biases at init), tied embeddings, Qwen2.5's RoPE base.
    "tiny-qwen2": ("qwen2", dict(vocab_size=512, hidden_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2,
                                 intermediate_size=128, hidden_act="silu", rms_norm_eps=1e-6,
                                 tie_word_embeddings=True, rope_theta=1000000.0,
                                 max_position_embeddings=256, use_sliding_window=False,
                                 attention_dropout=0.0, initializer_range=0.02)),
    # Mistral: a 64-token sliding window (the check's 31 positions are inside
    # it, where it equals full attention) and heads * head_dim != hidden_size.
    "tiny-mistral": ("mistral", dict(vocab_size=512, hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                                     intermediate_size=128, hidden_act="silu",
                                     rms_norm_eps=1e-5, tie_word_embeddings=False,
                                     rope_theta=10000.0, max_position_embeddings=256,
                                     sliding_window=64, attention_dropout=0.0,
                                     initializer_range=0.02)),
    # Llama 3 8B's shape (benchmarks only: 16 GB in bf16).
    "llama-8b": ("llama", dict(_LLAMA_COMMON, vocab_size=128256, hidden_size=4096,
                               num_hidden_layers=32, num_attention_heads=32,
                               num_key_value_heads=8, head_dim=128, intermediate_size=14336,
                               tie_word_embeddings=False, rope_theta=500000.0,
                               max_position_embeddings=8192)),
}


# Published config.json files (tests/model/data/configs), with the fields changed.
_CONFIG_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model", "data",
                            "configs")
PUBLISHED = {
    "llama-3.2-1b": ("llama", "llama-3.2-1b.json", {}),
    "qwen2.5-0.5b": ("qwen2", "qwen2.5-0.5b.json", {}),
    "mistral-7b-4l": ("mistral", "mistral-7b-v0.1.json", {"num_hidden_layers": 4}),
}

ARCHS = ("gpt2", "llama", "qwen2", "mistral")


def all_shapes():
    return sorted(list(SHAPES) + list(PUBLISHED))


def arch_of(shape):
    return PUBLISHED[shape][0] if shape in PUBLISHED else SHAPES[shape][0]


def published_dict(shape):
    """The published config.json of `shape` as a dict, its overrides applied."""
    _, name, overrides = PUBLISHED[shape]
    with open(os.path.join(_CONFIG_DATA, name)) as f:
        d = json.load(f)
    d.update(overrides)
    return d


def config_kwargs(shape):
    """The shape's fields (a published shape's config.json, overrides applied)."""
    return published_dict(shape) if shape in PUBLISHED else dict(SHAPES[shape][1])


def rope_scaling_want(shape):
    """The Llama 3 rope_scaling dict the shape asks for, or None."""
    scaling = config_kwargs(shape).get("rope_scaling")
    return dict(scaling) if isinstance(scaling, dict) else None


def rope_theta_of(config):
    """rope_theta wherever this transformers keeps it (v5: config.rope_parameters)."""
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    theta = getattr(config, "rope_theta", None)
    return None if theta is None else float(theta)


def rope_scaling_of(config):
    """The frequency scaling wherever this transformers keeps it (v5: config.rope_parameters,
    v4: config.rope_scaling); None for plain RoPE."""
    for key in ("rope_parameters", "rope_scaling"):
        params = getattr(config, key, None)
        if isinstance(params, dict) and params.get("rope_type", params.get("type")) not in (
                None, "default"):
            return params
    return None


def _config_class(transformers, arch):
    return {"gpt2": transformers.GPT2Config, "llama": transformers.LlamaConfig,
            "qwen2": transformers.Qwen2Config, "mistral": transformers.MistralConfig}[arch]


def make_config(shape, attn_implementation=None):
    """The transformers config object of `shape`, checked after construction.

    transformers 5 moved rope_theta and rope_scaling into config.rope_parameters
    and accepts the old keywords for compatibility; the effective values are
    checked (and set the v5 way if a keyword was dropped) so the model really
    has the shape's base and scaling. A published shape is read with the
    config class's from_dict, as from_pretrained reads its config.json.
    """
    import transformers

    arch = arch_of(shape)
    cls = _config_class(transformers, arch)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if shape in PUBLISHED:
        config = cls.from_dict(published_dict(shape), **extra)
    else:
        config = cls(**dict(SHAPES[shape][1], **extra))
    if arch != "gpt2":
        want = float(config_kwargs(shape).get("rope_theta", 10000.0))
        got = rope_theta_of(config)
        if got is None or abs(got - want) > 1e-6 * want:
            params = getattr(config, "rope_parameters", None)
            if isinstance(params, dict):
                params["rope_theta"] = want
                params.setdefault("rope_type", "default")
            else:
                config.rope_theta = want
        got = rope_theta_of(config)
        if got is None or abs(got - want) > 1e-6 * want:
            raise RuntimeError(f"{shape}: could not set rope_theta={want} (config has {got})")
        scaling = rope_scaling_want(shape)
        if scaling is not None and rope_scaling_of(config) is None:
            params = getattr(config, "rope_parameters", None)
            if isinstance(params, dict):
                params.update(scaling)
            else:
                config.rope_scaling = scaling
        got_scaling = rope_scaling_of(config)
        if scaling is not None and (
                got_scaling is None or
                got_scaling.get("rope_type", got_scaling.get("type")) != scaling["rope_type"] or
                any(float(got_scaling.get(k, -1)) != float(v) for k, v in scaling.items()
                    if k != "rope_type")):
            raise RuntimeError(f"{shape}: could not set rope_scaling={scaling} "
                               f"(config has {got_scaling})")
    return config


def model_class(arch):
    import transformers

    return {"gpt2": transformers.GPT2LMHeadModel, "llama": transformers.LlamaForCausalLM,
            "qwen2": transformers.Qwen2ForCausalLM,
            "mistral": transformers.MistralForCausalLM}[arch]
