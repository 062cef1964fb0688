#!/usr/bin/env bash
# Runs PowerShell 7: the pwsh on PATH if there is one, else PowerShell 7.6.10 from
# .local/tools, installed there first as the .NET tool "PowerShell" when missing (never
# globally). Arguments go to pwsh. Example: scripts/pwsh.sh ./publish.ps1 -Runtime linux-x64
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
version=7.6.10
tools="$repo/.local/tools"

if command -v pwsh >/dev/null; then
    exec pwsh -NoLogo -NoProfile "$@"
fi

if ! command -v dotnet >/dev/null; then
    echo "pwsh.sh: error: neither pwsh nor dotnet was found. Install the .NET 10 SDK and run this again." >&2
    exit 1
fi

# `dotnet tool list` prints "powershell  7.6.10  pwsh" once this version is installed.
if ! dotnet tool list --tool-path "$tools" 2>/dev/null | grep -qE "^powershell +$version "; then
    echo "pwsh.sh: installing PowerShell $version into $tools"
    if [[ -x $tools/pwsh ]]; then
        dotnet tool uninstall PowerShell --tool-path "$tools" >/dev/null
    fi
    dotnet tool install PowerShell --version "$version" --tool-path "$tools" >/dev/null
fi

exec "$tools/pwsh" -NoLogo -NoProfile "$@"
