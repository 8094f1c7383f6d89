#!/bin/sh
# Regenerates the two lexicons; NOTICE.md says what the data is and under which licence. Run from
# anywhere (needs npm, apt-get with Debian's package lists, dpkg-deb and Go):
#   sh internal/analysis/lexicon/generate.sh
#
# lexicon.tsv.gz: from the Unicode CLDR JSON packages of the npm registry (pinned version below).
# wikdict.tsv.gz: from the FreeDict+WikDict dictionaries (Wiktionary) packaged by Debian
# (source package freedict-wikdict, pinned version below): those of a pivot language that has
# dictionaries into English and the other analysed languages (Polish, Finnish, Greek).
set -eu
CLDR_VERSION=48.2.0
WIKDICT_VERSION=2022.12.07-2
WIKDICT="pol-eng pol-spa pol-por pol-fra pol-deu pol-ita pol-nld
	fin-eng fin-por fin-fra fin-deu fin-ita fin-nld
	ell-eng ell-spa ell-por ell-fra ell-ita ell-nld"
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in cldr-annotations-full cldr-units-full cldr-dates-full; do
	(cd "$tmp" && npm pack --silent "$p@$CLDR_VERSION" >/dev/null &&
		mkdir "$p" && tar -xzf "$p-$CLDR_VERSION.tgz" -C "$p" --strip-components=1)
done
go run gen.go -cldr "$tmp" -out lexicon.tsv.gz

mkdir "$tmp/wikdict"
chmod 777 "$tmp/wikdict" # apt-get download writes as the _apt user where it can
for p in $WIKDICT; do
	(cd "$tmp/wikdict" && apt-get download -q=2 "dict-freedict-$p=$WIKDICT_VERSION" &&
		dpkg-deb -x "dict-freedict-${p}_${WIKDICT_VERSION}_all.deb" .)
done
go run gen.go -wikdict "$tmp/wikdict/usr/share/dictd" -out wikdict.tsv.gz
