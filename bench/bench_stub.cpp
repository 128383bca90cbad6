// Keeps petrel_bench_lib non-empty before bench/lib/ has sources.
