#!/usr/bin/env bash
# Patch for snap-plugin-publisher-heka at the pinned commit (run in its source directory, after
# fetch-deps has filled vendor/).
#
# The vendored github.com/mozilla-services/heka/message ships the grammar of Heka's message
# matcher (message_matcher_parser.y) but not the Go parser generated from it: Heka's own build
# ran yacc. Without it the package does not compile ("undefined: tree" in message_matcher.go).
# The parser is generated here with goyacc, which the build provides: $GOYACC, or goyacc on
# PATH (the Dockerfile installs golang.org/x/tools/cmd/goyacc at the version GOYACC_VERSION pins).
# The build fails if the vendored package no longer looks as expected.
set -euo pipefail
PATCH=heka
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir=vendor/github.com/mozilla-services/heka/message
[ -f "$dir/message_matcher_parser.y" ] || die "$dir/message_matcher_parser.y is missing"
[ ! -e "$dir/message_matcher_parser.go" ] || die "$dir/message_matcher_parser.go exists already"
expect 1 "$dir/message_matcher.go" 'package message'
goyacc=${GOYACC:-$(command -v goyacc || true)}
[ -x "${goyacc:-/nonexistent}" ] || die "goyacc not found (set GOYACC or put it on PATH)"
(cd "$dir" && "$goyacc" -l=false -o message_matcher_parser.go message_matcher_parser.y >/dev/null) ||
  die "goyacc failed on $dir/message_matcher_parser.y"
rm -f "$dir/y.output"
expect 1 "$dir/message_matcher_parser.go" 'func parseMatcherSpecification('
go_format "$dir/message_matcher_parser.go"
