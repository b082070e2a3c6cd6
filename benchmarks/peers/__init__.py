"""The enrichment job written with other tools, run as whole programs by bench_commands."""
