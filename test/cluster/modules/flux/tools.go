//go:build tools

// The programs this module builds; test/cluster/build.sh names them.
package tools

import (
	_ "github.com/fluxcd/kustomize-controller"
	_ "github.com/fluxcd/source-controller"
)
