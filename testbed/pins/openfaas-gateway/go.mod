// The OpenFaaS gateway's pin, read by build-openfaas.sh: it builds a copy of this module version
// inside itself (its own go.mod and go.sum), not as a dependency of ours (build-openfaas.sh says why).
module cpu-alert-labeler/testbed/pins/openfaas-gateway

go 1.20

require github.com/openfaas/faas/gateway v0.0.0-20231102155424-02205b8b1954
