"""Speed of request-level serving: one hour of Poisson traffic at 10 requests/s (36,000
requests) on Llama-2-70B / DGX-H100 and on a CloudMatrix384 decode instance (160 x Ascend 910C,
DeepSeek-R1). Whole process, one run each, one core (the serving loop is single-threaded).

Usage: python benchmarks/bench_serve.py [--requests 36000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import bench_dram  # noqa: E402  (a sibling script: the accsim command and a user environment)

TRAFFIC = ["--arrivals", "poisson", "--rate", "10", "--seed", "0", "--quiet"]
CASES = {
    "Llama-2-70B on DGX-H100 (vLLM mode), continuous batching": [
        "--arch", "dgx-h100", "--model", "llama2-70b", "--set", "framework.mode=vllm", "--max-batch", "128",
        "--max-batched-tokens", "32768", "--prompt-tokens", "lognormal:256,0.9", "--output-tokens",
        "lognormal:200,0.8"],
    "DeepSeek-R1 on a CloudMatrix384 decode instance (160 x 910C), decode-only": [
        "--arch", "ascend-910c", "--model", "deepseek-r1", "--dtype", "w8a8", "--chips", "160", "--draft-tokens",
        "1", "--acceptance", "0.7", "--set", "parallel.microbatches=2", "--set", "parallel.stream_cores=16",
        "--decode-only", "--prompt-tokens", "lognormal:4096,0.3", "--output-tokens", "lognormal:200,0.8",
        "--max-batch", "30720"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=36000)
    args = ap.parse_args()
    accsim = bench_dram.accsim_command()
    print(f"{args.requests:,} requests, Poisson at 10/s (one hour of traffic), grid step model (default)")
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in CASES.items():
            out = Path(tmp) / "serve.json"
            t0 = time.perf_counter()
            subprocess.run(accsim + ["serve", *TRAFFIC, "--requests", str(args.requests), *options,
                                     "--json", str(out)], check=True, env=bench_dram.user_env())
            wall = time.perf_counter() - t0
            data = json.loads(out.read_text())
            f, steps = data["figures"], data["steps"]
            error = next(iter(steps["grid_error"].values()), {})
            ttft = f"{f['ttft_s']['p99']:.3f} s" if f["ttft_s"] else "n/a (decode-only)"
            print(f"{label}: {wall:.1f} s, {f['iterations']:,} iterations, {steps['passes_simulated']} passes "
                  f"simulated (grid error on {error.get('points_checked', 0)} re-simulated: max "
                  f"{100 * error.get('max_rel_error', 0):.2f}%); P99 TTFT {ttft}, P99 TPOT "
                  f"{1e3 * f['tpot_s']['p99']:.1f} ms")


if __name__ == "__main__":
    main()
