#!/usr/bin/env bash
# Install a Java runtime when `java` is missing. The E2E and WebNLG scorers run the official
# METEOR 1.5 jar and (E2E) the Stanford PTBTokenizer jar, both shipped in the pycocoevalcap wheel.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Slim Debian images lack this folder, and the JRE's post-install step fails without it.
$SUDO mkdir -p /usr/share/man/man1
$SUDO apt-get install -y -q --no-install-recommends default-jre-headless
java -version
