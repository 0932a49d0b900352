#!/usr/bin/env bash
# Fetch MathJax 3 (self-contained es5/tex-svg.js) into book/_static/mathjax/ so that the book's math renders
# offline. Sphinx's default loads MathJax from a CDN; without internet a reader would see raw TeX.
# _config.yml points `mathjax_path` at mathjax/tex-svg.js inside html_static_path (book/_static), which Sphinx
# copies to _build/html/_static/mathjax/tex-svg.js.
#
# Source: the npm package mathjax@3 (`npm pack` needs only the npm registry, no install, no node_modules).
# Besides tex-svg.js we keep es5/input/tex/extensions/: MathJax's autoload fetches an extension from there the
# first time a page uses a macro outside the core bundle (\boldsymbol, \cancel, ...). A few hundred kB.
# Idempotent: does nothing when the file is already there. The folder is gitignored.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/_static/mathjax"

if [[ -s "$dest/tex-svg.js" ]]; then
    echo "get_mathjax: $dest/tex-svg.js already present"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent mathjax@3 >/dev/null)
tarball="$(ls "$tmp"/mathjax-3*.tgz)"
tar -xzf "$tarball" -C "$tmp" package/es5/tex-svg.js package/es5/input/tex/extensions package/LICENSE

mkdir -p "$dest.partial"
cp "$tmp/package/es5/tex-svg.js" "$tmp/package/LICENSE" "$dest.partial/"
mkdir -p "$dest.partial/input/tex"
cp -r "$tmp/package/es5/input/tex/extensions" "$dest.partial/input/tex/"
# Move into place last, so an interrupted run never leaves a half-filled folder that looks complete.
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "get_mathjax: installed $(basename "$tarball" .tgz) into $dest"
