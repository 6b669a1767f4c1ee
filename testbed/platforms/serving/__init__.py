"""Knative Serving on the test node: built from its Go modules, installed from its own
config files, the function deployed through `kn` and `kubectl apply -k`."""
