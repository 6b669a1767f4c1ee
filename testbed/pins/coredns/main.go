// Command coredns is the node's cluster DNS: CoreDNS v1.12.4 from the Go module proxy
// (Debian 12 has no CoreDNS package), built with only the plugins a kubeadm cluster's
// default Corefile uses, the way CoreDNS documents an external main: import coremain and
// the wanted plugins, and set the directive order. Fewer plugins than the stock binary
// (no cloud DNS back ends) keeps the build a few minutes on two cores.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the "prometheus" directive
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives is CoreDNS's own order (core/dnsserver/zdirectives.go) for these plugins:
// the order a query passes through them, whatever order the Corefile lists them in.
var directives = []string{
	"reload", "ready", "health", "prometheus", "errors", "log",
	"loadbalance", "cache", "kubernetes", "loop", "forward",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
