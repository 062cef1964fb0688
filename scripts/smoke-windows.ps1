#!/usr/bin/env pwsh
#Requires -Version 7.0
<#
.SYNOPSIS
Smoke test of the Windows executable under Wine.

.DESCRIPTION
Publishes JobScheduler.exe with publish.ps1 into an empty folder, adds only a .env beside it,
and starts it under Wine against a PostgreSQL server on a free loopback port. Then it runs
cmd.exe jobs through the API, loads the dashboard, stops the daemon with Ctrl+C (SIGINT to
Wine) and checks that it exits with code 0, every job recorded and no process left behind.
Prints PASS or FAIL for each check, then one summary line; exits 1 if any check failed.

Needs the .NET 10 SDK, psql and Wine from Debian's packages (wine64). Run as root, it installs
wine64 when missing. Each run creates a database of its own on the server and drops it at the
end. Wine keeps its prefix (its C: drive and registry) in -WinePrefix between runs, so only the
first run pays the 10 to 20 s that creating one takes.

.PARAMETER Database
Npgsql connection string of the PostgreSQL server. Default: JOBSCHEDULER_TEST_DB, else
Host=127.0.0.1;Port=55432;Username=postgres;Password=postgres.

.PARAMETER WinePrefix
Folder of the Wine prefix. Default: WINEPREFIX, else /tmp/jobscheduler-wine.

.EXAMPLE
scripts/pwsh.sh scripts/smoke-windows.ps1
#>
[CmdletBinding()]
param(
    [string] $Database = ($env:JOBSCHEDULER_TEST_DB ??
        'Host=127.0.0.1;Port=55432;Username=postgres;Password=postgres'),

    [string] $WinePrefix = ($env:WINEPREFIX ?? '/tmp/jobscheduler-wine')
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $true

$repo = Split-Path -Parent $PSScriptRoot
$wine = '/usr/lib/wine/wine64'
$wineServer = '/usr/lib/wine/wineserver'
$clock = [Diagnostics.Stopwatch]::StartNew()
$results = [Collections.Generic.List[object]]::new()

function Write-Step([string] $message) {
    Write-Host ('smoke-windows: [{0,5:N1} s] {1}' -f $clock.Elapsed.TotalSeconds, $message)
}

# Records one check and prints PASS or FAIL with what was seen.
function Test-Check([string] $name, [bool] $passed, [string] $seen = '') {
    $results.Add([pscustomobject]@{ Name = $name; Passed = $passed })
    if ($passed) {
        Write-Host "PASS  $name"
    }
    else {
        Write-Host "FAIL  $name$(if ($seen) { " (seen: $seen)" })"
    }
}

# Splits an Npgsql connection string into the DB_* settings of the daemon.
function ConvertTo-DatabaseSettings([string] $connectionString) {
    $settings = @{ Host = '127.0.0.1'; Port = '5432'; User = 'postgres'; Password = '' }
    foreach ($pair in $connectionString -split ';' | Where-Object { $_ -match '=' }) {
        $key, $value = $pair -split '=', 2
        switch -Regex ($key.Trim()) {
            '^(host|server)$' { $settings.Host = $value.Trim() }
            '^port$' { $settings.Port = $value.Trim() }
            '^(username|user id|userid|user)$' { $settings.User = $value.Trim() }
            '^password$' { $settings.Password = $value }
        }
    }

    $settings
}

function Find-Psql {
    $onPath = Get-Command psql -ErrorAction SilentlyContinue
    if ($onPath) {
        return $onPath.Source
    }

    $installed = Get-ChildItem /usr/lib/postgresql/*/bin/psql -ErrorAction SilentlyContinue |
        Sort-Object { [version]$_.Directory.Parent.Name } | Select-Object -Last 1
    if (-not $installed) {
        throw 'psql was not found. Install the Debian package postgresql-client and run this again.'
    }

    $installed.FullName
}

# Runs one SQL statement and returns its output, unaligned and without headers.
function Invoke-Sql([string] $databaseName, [string] $sql) {
    $env:PGPASSWORD = $db.Password
    try {
        & $psql -X -q -At -h $db.Host -p $db.Port -U $db.User -d $databaseName -c $sql
    }
    finally {
        Remove-Item Env:PGPASSWORD
    }
}

function Install-WineWhenMissing {
    if (Test-Path $wine) {
        return
    }

    if ((id -u) -ne '0') {
        throw "Wine was not found at $wine. Install the Debian package wine64 as root " +
            '(apt-get install -y wine64) and run this again.'
    }

    Write-Step 'installing wine64 from Debian''s packages'
    $env:DEBIAN_FRONTEND = 'noninteractive'
    apt-get update -q | Out-Null
    apt-get install -y -q wine64 | Out-Null
}

function Get-FreePort {
    $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try {
        $listener.LocalEndpoint.Port
    }
    finally {
        $listener.Stop()
    }
}

# Lists the command lines of this machine's processes that contain the text.
function Find-Processes([string] $text) {
    @(ps -eo args= | Where-Object { $_.Contains($text) })
}

# Waits until no other smoke test runs, then holds the lock until the returned file is disposed.
# Runs on one machine take turns, because the wineserver -k at the end of one run would kill the
# daemon of another in the same prefix, and two publishes in one checkout share a build folder.
function Lock-WinePrefix {
    $deadline = [DateTime]::UtcNow.AddMinutes(15)
    while ($true) {
        try {
            # On Linux, .NET takes an flock for FileShare.None, which other processes respect.
            return [IO.File]::Open("$WinePrefix.lock", 'OpenOrCreate', 'ReadWrite', 'None')
        }
        catch {
            if ([DateTime]::UtcNow -gt $deadline) {
                throw "Another smoke test has held $WinePrefix.lock for 15 minutes; stop it or " +
                    'pass -WinePrefix with another folder.'
            }

            Start-Sleep -Seconds 1
        }
    }
}

function New-WinePrefixWhenMissing {
    if (Test-Path (Join-Path $WinePrefix 'system.reg')) {
        return
    }

    Write-Step "creating the Wine prefix $WinePrefix"
    # mscoree= and mshtml= skip the prompts to install Wine Mono and Wine Gecko, which .NET 10
    # does not need. Only here: the daemon needs Wine's own mscoree.dll, without which Wine
    # refuses to load the runtime's IL-only assemblies ("mscoree.dll not found").
    $env:WINEDLLOVERRIDES = 'mscoree,mshtml='
    & $wine wineboot --init 2>&1 | Out-Null
    & $wineServer -w
}

# Starts the daemon under Wine in the application folder, as a double-click would, with the
# output in the log file. Returns the process: Wine runs the program in the same process.
function Start-Daemon([string] $url, [string] $log) {
    $start = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
    foreach ($argument in '-c', 'exec "$0" JobScheduler.exe --urls "$1" >"$2" 2>&1 </dev/null',
        $wine, $url, $log) {
        $start.ArgumentList.Add($argument)
    }

    $start.WorkingDirectory = $app
    $start.UseShellExecute = $false
    $start.Environment['WINEDLLOVERRIDES'] = 'mshtml='
    $start.Environment['DB_HOST'] = $db.Host
    $start.Environment['DB_PORT'] = $db.Port
    $start.Environment['DB_USER'] = $db.User
    $start.Environment['DB_PASSWORD'] = $db.Password
    # DB_NAME comes from the .env beside the executable; the environment would win over it.
    foreach ($name in 'DB_NAME', 'LOG_DIR', 'API_TOKEN', 'ASPNETCORE_URLS', 'JOB_SHELL') {
        $start.Environment.Remove($name) | Out-Null
    }

    [Diagnostics.Process]::Start($start)
}

function Wait-Until([scriptblock] $condition, [TimeSpan] $timeout) {
    $deadline = [DateTime]::UtcNow + $timeout
    while ([DateTime]::UtcNow -lt $deadline) {
        if (& $condition) {
            return $true
        }

        Start-Sleep -Milliseconds 250
    }

    $false
}

function New-Job([string] $name, [string] $command, [hashtable] $extra = @{}) {
    $body = @{ name = $name; command = $command } + $extra | ConvertTo-Json -Compress
    $job = Invoke-RestMethod -Method Post -Uri "$url/api/jobs" -ContentType 'application/json' `
        -Body $body
    $job.id
}

function Get-Job([long] $id) {
    Invoke-RestMethod -Uri "$url/api/jobs/$id"
}

function Wait-JobFinished([long] $id) {
    Wait-Until { (Get-Job $id).status -in 'completed', 'failed', 'cancelled' } `
        ([TimeSpan]::FromSeconds(60)) | Out-Null
    Get-Job $id
}

function Test-Job([string] $name, $job, [string] $status, $exitCode, [string] $output) {
    $seen = "status $($job.status), exit code $($job.exit_code), output '$($job.output)'"
    $passed = $job.status -eq $status -and $job.exit_code -eq $exitCode -and
        "$($job.output)".Contains($output)
    Test-Check $name $passed $seen
}

$db = ConvertTo-DatabaseSettings $Database
$databaseName = "jobscheduler_smoke_$PID"
$psql = Find-Psql
$work = Join-Path ([IO.Path]::GetTempPath()) "jobscheduler-smoke-$PID"
$app = Join-Path $work 'app'
$daemonLog = Join-Path $work 'daemon.log'
$daemon = $null
$prefixLock = $null
$env:WINEPREFIX = $WinePrefix
$env:WINEDEBUG = '-all'

try {
    Write-Step "waiting for $WinePrefix.lock, which other smoke tests hold while they run"
    $prefixLock = Lock-WinePrefix
    Install-WineWhenMissing

    Write-Step 'publishing the win-x64 executable'
    & (Join-Path $repo 'publish.ps1') -Runtime win-x64 -OutputDirectory $app
    $published = @(Get-ChildItem $app -Force | ForEach-Object Name)
    Test-Check 'publish: the folder holds JobScheduler.exe alone' `
        (($published -join ',') -eq 'JobScheduler.exe') ($published -join ', ')
    Set-Content (Join-Path $app '.env') @(
        '# Read from beside the executable: the smoke test sets DB_NAME only here.'
        "DB_NAME=$databaseName"
    )

    New-WinePrefixWhenMissing
    # Each run starts from a fresh extraction, as the first start of a new version does.
    Get-ChildItem "$WinePrefix/drive_c/users/*/Temp/.net/JobScheduler" -Directory `
        -ErrorAction SilentlyContinue | Remove-Item -Recurse -Force

    $url = "http://127.0.0.1:$(Get-FreePort)"
    Write-Step "starting JobScheduler.exe under Wine on $url"
    $daemon = Start-Daemon $url $daemonLog
    $ready = Wait-Until {
        if ($daemon.HasExited) {
            return $true
        }

        try {
            Invoke-RestMethod "$url/api/stats" -TimeoutSec 5 | Out-Null
            $true
        }
        catch {
            $false
        }
    } ([TimeSpan]::FromSeconds(180))
    Test-Check 'start: the API answers' ($ready -and -not $daemon.HasExited)
    if (-not $ready -or $daemon.HasExited) {
        throw 'the daemon did not start; its output follows'
    }

    Write-Step 'daemon ready'
    $startupLog = Get-Content $daemonLog -Raw
    Test-Check 'start: the console names the dashboard' `
        $startupLog.Contains("Dashboard and API: $url")
    Test-Check 'start: the database comes from the .env beside the executable' `
        $startupLog.Contains("/$databaseName (")
    Test-Check 'start: the console shows no password' (-not $startupLog.Contains('Password='))

    $page = Invoke-WebRequest "$url/"
    $script = [regex]::Match($page.Content, 'src="(/[^"]*htmx[^"]*\.js)"').Groups[1].Value
    Test-Check 'dashboard: the page loads' ($page.StatusCode -eq 200 -and $script -ne '') `
        "status $($page.StatusCode), htmx script '$script'"
    if ($script) {
        $scriptResponse = Invoke-WebRequest "$url$script"
        Test-Check 'dashboard: the embedded htmx script loads' `
            ($scriptResponse.StatusCode -eq 200 -and $scriptResponse.RawContentLength -gt 10000) `
            "status $($scriptResponse.StatusCode), $($scriptResponse.RawContentLength) bytes"
    }

    Write-Step 'running cmd.exe jobs'
    $jobs = [ordered]@{
        exit = New-Job 'exit-code' 'echo hi & exit /b 3'
        quoted = New-Job 'quoted-path' '"C:\windows\system32\cmd.exe" /c echo quoted'
        variables = New-Job 'variables' 'echo id=%JOBSCHEDULER_JOB_ID% level=%ERRORLEVEL%'
        caret = New-Job 'caret' 'echo a ^& b'
        more = New-Job 'pipe-more' 'echo piped | more'
        findstr = New-Job 'pipe-findstr' 'echo x | findstr x'
        stderr = New-Job 'stderr' 'echo to-stderr 1>&2'
    }
    $exitJob = Wait-JobFinished $jobs.exit
    Test-Job 'job: & and exit /b 3 fail it with exit code 3' $exitJob 'failed' 3 'hi'
    Test-Job 'job: a quoted program path runs' (Wait-JobFinished $jobs.quoted) 'completed' 0 'quoted'
    Test-Job 'job: %VAR% and %ERRORLEVEL% expand' (Wait-JobFinished $jobs.variables) `
        'completed' 0 "id=$($jobs.variables) level=0"
    Test-Job 'job: ^& prints a literal &' (Wait-JobFinished $jobs.caret) 'completed' 0 'a & b'
    Test-Job 'job: a pipe into more' (Wait-JobFinished $jobs.more) 'completed' 0 'piped'
    # Wine 8's findstr.exe is a stub that prints nothing, so only the exit code is checked.
    Test-Job 'job: a pipe into findstr' (Wait-JobFinished $jobs.findstr) 'completed' 0 ''
    Test-Job 'job: stderr is kept' (Wait-JobFinished $jobs.stderr) 'completed' 0 'to-stderr'

    # The background cmd.exe outlives start.exe, its parent, so a walk of the process tree
    # misses it; only the job object kills it.
    Write-Step 'timing out and cancelling jobs with child processes'
    $timedOut = New-Job 'timeout-tree' `
        'start /b cmd /c ping -n 63 127.0.0.1 ^>nul & ping -n 61 127.0.0.1 >nul' `
        @{ timeout_seconds = 3 }
    $sleeping = New-Job 'cancel-tree' 'ping -n 62 127.0.0.1 >nul'
    Wait-Until { (Get-Job $sleeping).status -eq 'running' } ([TimeSpan]::FromSeconds(30)) |
        Out-Null
    Start-Sleep -Seconds 1
    Invoke-RestMethod -Method Post "$url/api/jobs/$sleeping/cancel" | Out-Null
    $timedOutJob = Wait-JobFinished $timedOut
    Test-Check 'timeout: the job fails as timed out' `
        ($timedOutJob.status -eq 'failed' -and "$($timedOutJob.error)".Contains('timed out')) `
        "status $($timedOutJob.status), error '$($timedOutJob.error)'"
    $cancelledJob = Wait-JobFinished $sleeping
    Test-Check 'cancel: the job ends cancelled' ($cancelledJob.status -eq 'cancelled') `
        "status $($cancelledJob.status)"
    Start-Sleep -Seconds 1
    $leftovers = @(Find-Processes 'ping -n 6')
    Test-Check 'timeout and cancel: no process of those jobs is left' ($leftovers.Count -eq 0) `
        ($leftovers -join '; ')
    Test-Check 'timeout: the job object was used' `
        (-not (Get-Content $daemonLog -Raw).Contains('Windows job object'))

    Write-Step 'stopping the daemon with Ctrl+C while a job runs'
    $finishing = New-Job 'graceful-stop' 'ping -n 4 127.0.0.1 >nul & echo finished'
    Wait-Until { (Get-Job $finishing).status -eq 'running' } ([TimeSpan]::FromSeconds(30)) |
        Out-Null
    /bin/kill -INT $daemon.Id
    $exited = $daemon.WaitForExit(60000)
    Test-Check 'stop: the daemon exits with code 0' ($exited -and $daemon.ExitCode -eq 0) `
        $(if ($exited) { "exit code $($daemon.ExitCode)" } else { 'still running after 60 s' })

    $row = Invoke-Sql $databaseName "SELECT status || ' ' || output FROM jobs WHERE id = $finishing"
    Test-Check 'stop: the running job finished and was recorded' `
        ("$row".StartsWith('completed') -and "$row".Contains('finished')) "$row"
    $running = Invoke-Sql $databaseName "SELECT count(*) FROM jobs WHERE status = 'running'"
    Test-Check 'stop: no job is left running' ($running -eq '0') "$running running"
    $logFiles = @(Get-ChildItem (Join-Path $app 'logs') -Filter 'jobscheduler-*.log' `
        -ErrorAction SilentlyContinue)
    Test-Check 'stop: the log file is in logs beside the executable' ($logFiles.Count -eq 1) `
        "$($logFiles.Count) files"
    $leftovers = @(Find-Processes $app)
    Test-Check 'stop: no process is left running' ($leftovers.Count -eq 0) ($leftovers -join '; ')
}
catch {
    Test-Check 'the smoke test ran to its end' $false "$_"
}
finally {
    if ($daemon -and -not $daemon.HasExited) {
        $daemon.Kill()
    }

    # Ends Wine's own processes (services.exe, explorer.exe, the wineserver) in the prefix.
    if (Test-Path $wineServer) {
        $PSNativeCommandUseErrorActionPreference = $false
        & $wineServer -k 2>$null
        & $wineServer -w 2>$null
    }

    if ($prefixLock) {
        $prefixLock.Dispose()
    }

    try {
        Invoke-Sql 'postgres' "DROP DATABASE IF EXISTS $databaseName WITH (FORCE)" | Out-Null
    }
    catch {
        Write-Host "smoke-windows: the database $databaseName could not be dropped: $_"
    }
}

$failed = @($results | Where-Object { -not $_.Passed })
$elapsed = '{0:N0} s' -f $clock.Elapsed.TotalSeconds
if ($failed.Count -gt 0) {
    Write-Host "smoke-windows: the daemon's output, from $daemonLog :"
    Get-Content $daemonLog -Tail 60 -ErrorAction SilentlyContinue | Write-Host
    Write-Host ("smoke-windows: FAIL, {0} of {1} checks failed in {2}; files kept in {3}" -f
        $failed.Count, $results.Count, $elapsed, $work)
    exit 1
}

Remove-Item -Recurse -Force $work
Write-Host ("smoke-windows: PASS, all {0} checks in {1}" -f $results.Count, $elapsed)
