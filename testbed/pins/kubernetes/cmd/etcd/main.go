// Command etcd is etcd's own server entry point, built from the Go module proxy.
//
// Debian 12 ships etcd 3.4, which Kubernetes 1.34 no longer supports (its client and
// storage layer expect 3.5+). The server version is the one Kubernetes v1.34.4's own
// go.mod names, so one module graph serves both and nothing is downloaded twice.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
