#!/usr/bin/env pwsh
#Requires -Version 7.0
<#
.SYNOPSIS
Builds JobScheduler as one self-contained executable.

.DESCRIPTION
Publishes JobScheduler.csproj for one runtime as a single self-contained file that carries the
.NET runtime, the dashboard's static files and the SQL migrations, and copies that one file to
the output folder. The publish settings, and why they were chosen, are in JobScheduler.csproj.
Prints where the file went and its size.

.PARAMETER Runtime
The .NET runtime identifier: win-x64 (the default) or linux-x64.

.PARAMETER OutputDirectory
Folder for the executable. Default: publish/<Runtime> in the repository.

.EXAMPLE
./publish.ps1

.EXAMPLE
./publish.ps1 -Runtime linux-x64 -OutputDirectory /opt/jobscheduler
#>
[CmdletBinding()]
param(
    [ValidateSet('win-x64', 'linux-x64')]
    [string] $Runtime = 'win-x64',

    [string] $OutputDirectory
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $true

$repo = $PSScriptRoot
if (-not $OutputDirectory) {
    $OutputDirectory = Join-Path $repo 'publish' $Runtime
}

if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
    throw 'The dotnet command was not found. Install the .NET 10 SDK and run this again.'
}

# A build folder of its own, under .local (ignored by git), so that this publish never rewrites
# obj/ while a build or a test run in the same checkout uses it.
$buildDirectory = Join-Path $repo '.local' 'publish-build' $Runtime
$stagingDirectory = Join-Path $buildDirectory 'out'
if (Test-Path $stagingDirectory) {
    Remove-Item -Recurse -Force $stagingDirectory
}

dotnet publish (Join-Path $repo 'JobScheduler.csproj') --nologo --configuration Release `
    --runtime $Runtime --artifacts-path $buildDirectory --output $stagingDirectory

# dotnet publish also writes files the executable does not need (an empty static web assets
# manifest among them), so only the executable is copied.
$name = if ($Runtime.StartsWith('win-')) { 'JobScheduler.exe' } else { 'JobScheduler' }
$built = Join-Path $stagingDirectory $name
if (-not (Test-Path $built)) {
    throw "dotnet publish succeeded, but $built is missing."
}

New-Item -ItemType Directory -Force $OutputDirectory | Out-Null
$target = Join-Path (Resolve-Path $OutputDirectory) $name
Copy-Item $built $target -Force

$megabytes = (Get-Item $target).Length / 1MB
Write-Host ('Published {0} for {1}: {2:N1} MB.' -f $target, $Runtime, $megabytes)
Write-Host 'It needs no other file; an optional .env beside it sets the database (see .env.example).'
