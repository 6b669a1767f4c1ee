// Pins the tool's module for testbed/pins/build-cli.sh; never compiled into the project.
//go:build tools

package tools

import _ "github.com/openfaas/faas-cli"
