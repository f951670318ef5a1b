"""Development tools: compile, gas report, local node, demo seed, benchmarks. Not on the service's boot path."""
