"""Read a model's architecture from a Hugging Face `config.json` file.

Supports the decoder families the catalog covers (Llama, Mistral, Mixtral, Qwen2/2.5/3 and
Qwen3-MoE, Gemma 2/3, Phi-3, DeepSeek-V2/V3, GPT-J and GPT-NeoX-style keys). Parameter totals are
computed from the architecture (`params.py`), since config.json does not state them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fleetplan.catalog.params import active_params, count_params
from fleetplan.catalog.specs import ModelSpec
from fleetplan.errors import InputError

# config.json key aliases, first match wins
_KEYS: dict[str, tuple[str, ...]] = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "attention_heads": ("num_attention_heads", "n_head", "num_heads"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
}


def _first(cfg: dict[str, Any], field: str, path: str) -> int:
    for key in _KEYS[field]:
        if key in cfg and cfg[key] is not None:
            return _positive_int(cfg, key, path)
    raise InputError(f"{path}: missing {' or '.join(repr(k) for k in _KEYS[field])}")


MAX_SIZE = 100_000_000  # no layer count, width or vocabulary is larger; 1e40 is a typo


def _positive_int(cfg: dict[str, Any], key: str, path: str) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIZE:
        raise InputError(
            f"{path}: field {key!r} = {value!r}; expected an integer from 1 to {MAX_SIZE}"
        )
    return value


def _opt(cfg: dict[str, Any], key: str, path: str, default: int = 0) -> int:
    if cfg.get(key) is None:
        return default
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE:
        raise InputError(
            f"{path}: field {key!r} = {value!r}; expected an integer from 0 to {MAX_SIZE}"
        )
    return value


def read_config(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    from fleetplan.files import parse_text, read_text

    cfg = parse_text(read_text(p, "model config"), f"model config {str(p)!r}", "json")
    if not isinstance(cfg, dict):
        raise InputError(f"model config {str(p)!r}: expected a JSON object at the top level")
    # multimodal wrappers keep the language model under text_config
    if isinstance(cfg.get("text_config"), dict) and "num_hidden_layers" not in cfg:
        cfg = {**cfg, **cfg["text_config"]}
    return cfg


def _fp8_block_scaled(cfg: dict) -> bool:
    """Whether the checkpoint's FP8 weights are scaled per block (quantization_config with
    quant_method fp8 and a weight_block_size, as DeepSeek-V3/R1 and Qwen3 -FP8 ship)."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return False
    return str(q.get("quant_method", "")).lower() == "fp8" and bool(q.get("weight_block_size"))


COUNTS_NOTE = "parameter totals computed from the architecture"
# config.json quantization_config quant_methods named as the catalog's precision of such weights
SAME_NAME_QUANT_METHODS = frozenset({"mxfp4", "awq", "gptq"})


def checkpoint_precision(cfg: dict) -> tuple[str, str]:
    """The catalog precision a config.json's weights ship in ("" for 16-bit: no
    quantization_config), and the quant_method of a quantization fleetplan does not model."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return "", ""
    method = str(q.get("quant_method", "")).lower()
    if method == "fp8":
        return ("fp8-block" if _fp8_block_scaled(cfg) else "fp8"), ""
    if method in SAME_NAME_QUANT_METHODS:
        return method, ""
    return "", method or "(none)"


def model_from_config(path: str | Path) -> ModelSpec:
    """A ModelSpec from a config.json file (or a folder holding one)."""
    where = str(path)
    cfg = read_config(path)
    layers = _first(cfg, "layers", where)
    hidden = _first(cfg, "hidden_size", where)
    heads = _first(cfg, "attention_heads", where)
    vocab = _first(cfg, "vocab_size", where)
    # a key that is present must hold a usable value: 0 KV heads is not "MHA", 0 is no head_dim
    has = {k for k in ("num_key_value_heads", "head_dim") if cfg.get(k) is not None}
    kv_heads = (
        _positive_int(cfg, "num_key_value_heads", where) if "num_key_value_heads" in has else heads
    )
    if "head_dim" in has:
        head_dim = _positive_int(cfg, "head_dim", where)
    elif hidden % heads:
        raise InputError(
            f"{where}: hidden_size {hidden} is not a multiple of num_attention_heads {heads} "
            "and no 'head_dim' is given"
        )
    else:
        head_dim = hidden // heads
    model_type = str(cfg.get("model_type", ""))
    inter_key = next(
        (k for k in ("intermediate_size", "n_inner", "ffn_hidden_size") if cfg.get(k)), None
    )
    inter = _positive_int(cfg, inter_key, where) if inter_key else 4 * hidden
    mlp = "plain" if model_type in {"gptj", "gpt2", "gpt_neox", "opt", "falcon"} else "gated"
    experts = _opt(cfg, "num_local_experts", where) or _opt(cfg, "n_routed_experts", where)
    experts = experts or _opt(cfg, "num_experts", where)
    per_tok = _opt(cfg, "num_experts_per_tok", where)
    moe_inter = _opt(cfg, "moe_intermediate_size", where) or (inter if experts else 0)
    shared = _opt(cfg, "n_shared_experts", where)
    if experts and not per_tok:
        raise InputError(f"{where}: MoE config ({experts} experts) lacks 'num_experts_per_tok'")
    if experts and per_tok > experts:
        raise InputError(f"{where}: num_experts_per_tok {per_tok} exceeds the {experts} experts")
    if heads % kv_heads:
        raise InputError(
            f"{where}: num_attention_heads {heads} is not a multiple of "
            f"num_key_value_heads {kv_heads}"
        )
    window = _opt(cfg, "sliding_window", where)
    if cfg.get("use_sliding_window") is False:
        window = 0
    window_layers = 0
    layer_types = cfg.get("layer_types")
    if window and isinstance(layer_types, list) and layer_types:
        # gpt-oss, Gemma 3 (newer configs): each layer's kind spelled out
        window_layers = sum(1 for t in layer_types if t == "sliding_attention")
    elif window:
        if model_type.startswith("gemma2"):
            window_layers = layers // 2  # Gemma 2 alternates local and global layers
        elif model_type.startswith("gemma3"):
            window_layers = layers - layers // _opt(cfg, "sliding_window_pattern", where, 6)
        else:
            window_layers = layers
    max_ctx = _opt(cfg, "max_position_embeddings", where) or _opt(cfg, "n_positions", where)
    fields = dict(
        layers=layers,
        hidden_size=hidden,
        intermediate_size=inter,
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", True)),  # HF default
        mlp=mlp,
        moe_experts=experts,
        moe_experts_per_token=per_tok if experts else 0,
        moe_shared_experts=shared,
        moe_intermediate_size=moe_inter,
        moe_dense_layers=_opt(cfg, "first_k_dense_replace", where) if experts else 0,
        kv_lora_rank=_opt(cfg, "kv_lora_rank", where),
        q_lora_rank=_opt(cfg, "q_lora_rank", where),
        qk_rope_head_dim=_opt(cfg, "qk_rope_head_dim", where),
        qk_nope_head_dim=_opt(cfg, "qk_nope_head_dim", where),
        v_head_dim=_opt(cfg, "v_head_dim", where),
        fp8_block_scaled=_fp8_block_scaled(cfg),
        sliding_window=window,
        sliding_window_layers=window_layers,
        # gpt-oss's learned per-head sink logits (config.json names no flag for them)
        attention_sinks=model_type == "gpt_oss",
    )
    arch = SimpleNamespace(**fields)
    total = count_params(arch).total
    shipped, unmodelled = checkpoint_precision(cfg)
    name = Path(path).parent.name if Path(path).name == "config.json" else Path(path).name
    return ModelSpec(
        id=f"file:{where}",
        name=str(cfg.get("_name_or_path") or name or where),
        family=model_type,
        params_total_b=total / 1e9,
        params_active_b=active_params(arch) / 1e9,
        max_context=max_ctx or 2048,
        source=where,
        as_of="(from config.json)",
        notes=COUNTS_NOTE,
        checkpoint_precision=shipped,
        unmodelled_quantization=unmodelled,
        **fields,
    )


def looks_like_path(name: str) -> bool:
    """True when a MODEL argument names a file or folder rather than a catalog id."""
    return name.endswith(".json") or ("/" in name and Path(name).exists()) or Path(name).is_dir()
