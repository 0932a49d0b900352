#!/usr/bin/env bash
# Every install step of a fresh machine (Debian + Python 3.11): the Fashion-MNIST package and Chromium with its
# driver (the site check) where apt is available, a virtualenv with ddlib and its book and test extras. Idempotent.
# CIFAR-10 comes from ../shared/data/cifar10/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] && command -v apt-get >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "setup: Fashion-MNIST missing; run 'sudo apt-get install dataset-fashion-mnist' or set DDLIB_FASHION_MNIST"
    fi
fi

if [[ ! -e /usr/bin/chromium || ! -e /usr/bin/chromedriver ]] && command -v apt-get >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing Chromium and its driver (make check-site, tests/test_sitecheck.py)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "setup: Chromium missing; run 'sudo apt-get install chromium chromium-driver' (make check-site)"
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[book,test]"
