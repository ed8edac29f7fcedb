#!/usr/bin/env bash
# Regenerates completions/ and man/ from the clap definition.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/lokal
mkdir -p completions
"$bin" completions bash > completions/lokal.bash
"$bin" completions zsh > completions/_lokal
"$bin" completions fish > completions/lokal.fish
rm -rf man && mkdir man
"$bin" man man
