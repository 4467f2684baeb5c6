#!/bin/sh
# Installs the Debian packages that building and testing cdrl need, when they are missing;
# `sh scripts/deps.sh fashion-mnist` also installs the Fashion-MNIST files (Debian's
# dataset-fashion-mnist, under /usr/share/datasets/fashion-mnist) that the fmnist-cpu preset
# reads. Safe to run again: it only calls apt-get when something is absent. Needs root (or sudo).
set -e
need="gcc make libc6-dev libdnnl-dev liblapacke-dev libcjson-dev libpng-dev zlib1g-dev libjpeg62-turbo-dev clang-format clang libopenmpi-dev openmpi-bin procps"
[ "$1" = "fashion-mnist" ] && need="$need dataset-fashion-mnist"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
