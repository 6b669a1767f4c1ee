// faas-netes' pin, read by build-openfaas.sh (and the Makefile, for the Function CRD): build-openfaas.sh builds
// a copy of this module version inside itself, not as a dependency of ours (it says why).
module cpu-alert-labeler/testbed/pins/faas-netes

go 1.18

require github.com/openfaas/faas-netes v0.0.0-20230128105321-d45bc4d2a2b1
