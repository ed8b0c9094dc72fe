"""Smoke-test models: inline Hugging Face configs small enough to run any family in seconds,
also without JIT (the family contract tests and ``Family.examples`` use them)."""

# a two-layer GPT-2-shaped model (d_model 256, 4 heads)
TINY_GPT2 = {"model_type": "gpt2", "n_layer": 2, "n_embd": 256, "n_head": 4, "vocab_size": 1000,
             "n_positions": 256}
