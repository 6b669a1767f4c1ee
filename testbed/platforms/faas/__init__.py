"""OpenFaaS on the test node: its gateway and faas-netes, the function deployed with faas-cli."""
