//go:build tools

// Package tools pins Metrics Server's command for `go build` (tools/build-metrics-server.sh).
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
