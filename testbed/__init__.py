"""The development kit: real parts for tests, benchmarks and reliability campaigns.

Not shipped (the wheel holds `function/` only).  Everything here starts real
programs (etcd, kube-apiserver, the function's server, Prometheus, Alertmanager) or speaks real
HTTP, so callers test behaviour against the parts a cluster runs.  Importable as
`testbed.*` from the repository root: pytest's `pythonpath` and `python -m` both
put the root first, so nothing edits `sys.path`.
"""
