//go:build tools

// The program this module builds (one binary, acting by its name as the application controller,
// repo server, cmp server, ...); test/cluster/build.sh names it.
package tools

import _ "github.com/argoproj/argo-cd/v3/cmd"
