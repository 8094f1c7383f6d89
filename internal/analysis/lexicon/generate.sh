#!/bin/sh
# Regenerates lexicon.tsv.gz from the Unicode CLDR JSON packages of the npm registry (pinned
# version below); NOTICE.md says what the data is and under which licence. Run from anywhere:
#   sh internal/analysis/lexicon/generate.sh
set -eu
CLDR_VERSION=48.2.0
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in cldr-annotations-full cldr-units-full cldr-dates-full; do
	(cd "$tmp" && npm pack --silent "$p@$CLDR_VERSION" >/dev/null &&
		mkdir "$p" && tar -xzf "$p-$CLDR_VERSION.tgz" -C "$p" --strip-components=1)
done
go run gen.go -cldr "$tmp" -out lexicon.tsv.gz
