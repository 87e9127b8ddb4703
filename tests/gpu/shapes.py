"""Model shapes shared by the GPU check scripts (make_checkpoint.py, torch_bench.py).

The same names as hix-bench's and hix-model-run's presets where they overlap
(gpt2-small, llama-1b, llama-8b); the tiny shapes are our own, small enough
for the CPU backend yet with a vocabulary large enough that greedy argmax over
it means something. Dropout is zeroed so a model left in training mode by
mistake still computes the same function.

Only the standard library is imported at module level: transformers is
imported inside the functions, so py_compile (the CI check) needs nothing.
"""

# shape name -> (arch, keyword arguments of GPT2Config / LlamaConfig)
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
    # Llama 3 8B's shape (benchmarks only: 16 GB in bf16).
    "llama-8b": ("llama", dict(_LLAMA_COMMON, vocab_size=128256, hidden_size=4096,
                               num_hidden_layers=32, num_attention_heads=32,
                               num_key_value_heads=8, head_dim=128, intermediate_size=14336,
                               tie_word_embeddings=False, rope_theta=500000.0,
                               max_position_embeddings=8192)),
}


def arch_of(shape):
    return SHAPES[shape][0]


def config_kwargs(shape):
    return dict(SHAPES[shape][1])


def rope_theta_of(config):
    """rope_theta wherever this transformers keeps it (v5: config.rope_parameters)."""
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    theta = getattr(config, "rope_theta", None)
    return None if theta is None else float(theta)


def make_config(shape, attn_implementation=None):
    """The transformers config object of `shape`, checked after construction.

    transformers 5 moved rope_theta into config.rope_parameters and accepts the
    old keyword for compatibility; the effective value is checked (and set the
    v5 way if the keyword was dropped) so the model really has the shape's base.
    """
    import transformers

    arch, kwargs = SHAPES[shape]
    if attn_implementation:
        kwargs = dict(kwargs, attn_implementation=attn_implementation)
    cls = transformers.GPT2Config if arch == "gpt2" else transformers.LlamaConfig
    config = cls(**kwargs)
    if arch == "llama":
        want = float(SHAPES[shape][1]["rope_theta"])
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
    return config


def model_class(arch):
    import transformers

    return transformers.GPT2LMHeadModel if arch == "gpt2" else transformers.LlamaForCausalLM
