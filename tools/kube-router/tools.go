//go:build tools

// Package tools pins kube-router's command for `go build` (tools/build-node.sh).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
