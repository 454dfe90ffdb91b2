"""Data-parallel attention (SGLang --enable-dp-attention): KV and attention weights per GPU."""

from __future__ import annotations

import pytest

from fleetplan.accuracy.published import attention_dp
from fleetplan.errors import InputError
from fleetplan.estimate import estimate_fit
from fleetplan.perf.attention_dp import attention_dp_weight_bytes, kv_shard_fraction
from fleetplan.perf.memory import fit, kv_bytes_per_token_per_layer
from fleetplan.perf.roofline import setup, step_s


def test_mla_latent_is_on_every_gpu_under_tp_and_split_under_dp_attention(catalog):
    r1 = catalog.model("deepseek-r1")
    # one token's latent in one layer: (kv_lora_rank + rope dim) x 2 bytes = (512 + 64) x 2
    assert kv_bytes_per_token_per_layer(r1, 2.0) == (512 + 64) * 2
    assert kv_shard_fraction(r1, 8) == 1.0  # heads split, the latent is not: a copy per GPU
    assert kv_shard_fraction(r1, 8, attention_dp=8) == pytest.approx(1 / 8)
    assert kv_shard_fraction(r1, 8, attention_dp=2) == pytest.approx(1 / 2)
    # GQA: 8 KV heads over tp 8 / dp 2 = 4 GPUs a group, each GPU a 1/2 share of the requests
    llama = catalog.model("llama-3.1-70b")
    assert kv_shard_fraction(llama, 8) == pytest.approx(1 / 8)
    assert kv_shard_fraction(llama, 8, attention_dp=2) == pytest.approx(2 / 8 / 2)


def test_attention_dp_must_divide_tp(catalog):
    r1 = catalog.model("deepseek-r1")
    with pytest.raises(InputError, match="attention_dp = 3"):
        kv_shard_fraction(r1, 8, attention_dp=3)
    with pytest.raises(InputError, match="attention_dp = 3"):
        estimate_fit("deepseek-r1", "h200", precision="fp8", tp=8, attention_dp=3)


def test_dp_attention_multiplies_kv_room_and_replicates_attention_weights(catalog):
    args = (catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8"))
    eng = catalog.engine("sglang")
    tp_only = fit(*args, eng, tp=8, context=9600)
    dp = fit(*args, eng, tp=8, context=9600, attention_dp=8)
    extra = attention_dp_weight_bytes(*args[::2], 8, 8)
    # 61 layers of MLA attention, ~187M parameters each, 1 byte in FP8: ~10 GB more per GPU
    assert 8e9 < extra < 13e9
    assert dp.weights_bytes_per_gpu == pytest.approx(tp_only.weights_bytes_per_gpu + extra)
    assert dp.kv_bytes_per_token_per_gpu == pytest.approx(tp_only.kv_bytes_per_token_per_gpu / 8)
    # eight times the tokens per byte, less room after the attention copies: still ~6x
    assert 5 * tp_only.kv_capacity_tokens < dp.kv_capacity_tokens < 8 * tp_only.kv_capacity_tokens
    assert attention_dp_weight_bytes(*args[::2], 8, 1) == 0.0


def test_dp_attention_step_reads_an_eighth_of_the_kv_and_all_attention_weights(catalog):
    args = (catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8"))
    eng = catalog.engine("sglang")
    tp_only = setup(*args, eng, tp=8)
    dp = setup(*args, eng, tp=8, attention_dp=8)
    assert dp.kv_layer_bytes_gpu == pytest.approx(tp_only.kv_layer_bytes_gpu / 8)
    extra = attention_dp_weight_bytes(args[0], args[2], 8, 8)
    assert dp.dense_bytes_gpu == pytest.approx(tp_only.dense_bytes_gpu + extra)
    assert any("attention data-parallel over 8 groups" in n for n in dp.notes)
    a, b = step_s(tp_only, 128, 4000), step_s(dp, 128, 4000)
    assert float(b.kv_bytes) == pytest.approx(float(a.kv_bytes) / 8)
    assert float(b.attention_memory_s) < float(a.attention_memory_s) / 7


@pytest.mark.parametrize(
    ("engine", "version", "command", "expected"),
    [
        ("sglang", "0.4.3.post2", "sglang.launch_server --tp 8 --enable-dp-attention", 8),
        ("sglang", "0.5.3", "sglang --tp 8 --enable-dp-attention", 1),  # --dp defaults to 1
        ("sglang", "0.5.3", "sglang --tp 8 --dp 8 --enable-dp-attention", 8),
        ("sglang", "0.5.3", "sglang --tp 8 --dp-size=4 --enable-dp-attention", 4),
        ("sglang", "0.4.3.post2", "sglang.launch_server --tp 8", 1),
        ("vllm", "0.7.3", "vllm serve --tensor-parallel-size 8 --enable-dp-attention", 1),
    ],
)
def test_published_rows_read_dp_attention_from_the_launch_command(
    engine, version, command, expected
):
    assert attention_dp(engine, version, command, 8) == expected
