"""A TensorRT-LLM run's own scheduler limits: `trtllm-serve --max_num_tokens N` (tokens a step)
and `--max_batch_size N` (sequences at once) in its launch command replace the engine's
defaults (8,192 and 2,048) when its rows are predicted (dstack's DeepSeek-R1 runs:
`--max_batch_size 512 --max_num_tokens 16384`, so four 3,200-token prompts arriving together
are prefilled in one step, not two)."""

from __future__ import annotations

from fleetplan.accuracy.predict import row_setup
from fleetplan.accuracy.published import launch_limit, published_set_path, read_published


def test_launch_limit_reads_the_trtllm_command_only():
    cmd = "500 requests; trtllm-serve --backend pytorch --max_batch_size 512 --max_num_tokens 16384"
    assert launch_limit(cmd, "max_num_tokens") == 16384
    assert launch_limit(cmd, "max_batch_size") == 512
    assert launch_limit("trtllm-serve defaults; --max_num_tokens=8192", "max_num_tokens") == 0
    assert launch_limit("trtllm-serve --max_num_tokens=16384", "max_num_tokens") == 16384
    # another engine's notes that name a batch size are not a TensorRT-LLM launch command
    assert launch_limit("TurboMind; max_batch_size 128", "max_batch_size") == 0
    assert launch_limit("trtllm-serve --tp_size 8", "max_batch_size") == 0


def test_a_runs_limits_set_its_engine(catalog):
    rows = read_published(published_set_path(), catalog).rows
    dstack = [r for r in rows if r.engine == "tensorrt-llm" and "dstack" in r.source_id]
    assert dstack and all(r.max_num_tokens == 16384 and r.max_batch_size == 512 for r in dstack)
    s = row_setup(dstack[0], catalog)
    assert s.engine.max_num_batched_tokens == 16384
    assert s.engine.max_num_seqs == 512
    # rows whose command sets neither keep the family's defaults
    other = next(r for r in rows if r.engine == "tensorrt-llm" and not r.max_num_tokens)
    trt = catalog.engine("tensorrt-llm").for_gpu(catalog.gpu(other.gpu))
    assert row_setup(other, catalog).engine.max_num_batched_tokens == trt.max_num_batched_tokens
