"""Parts the benchmarks share: rides, machine facts, baselines. Not benchmarks themselves."""
