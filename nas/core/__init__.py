"""Architectures and one proxy training: search spaces, genotypes, networks, cost counting, the proxy trainer."""
