using System.Globalization;
using System.Runtime.InteropServices;
using JobScheduler.Scheduling;
using Npgsql;

namespace JobScheduler.Hosting;

/// <summary>
/// Start-up settings, read once from the environment and <c>.env</c> files. Live settings that
/// change without a restart live in the <c>scheduler_config</c> table instead.
/// </summary>
public sealed record Settings
{
    public string DbHost { get; init; } = "localhost";

    public int DbPort { get; init; } = 5432;

    public string DbName { get; init; } = "scheduler_db";

    public string DbUser { get; init; } = "postgres";

    public string DbPassword { get; init; } = "postgres";

    /// <summary>Time between polls (CHECK_INTERVAL, seconds, default 10). A fallback only:
    /// new jobs and freed slots wake the loop at once.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time between heartbeats of this instance's running jobs
    /// (HEARTBEAT_INTERVAL, seconds, default 5).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time without a heartbeat after which any instance fails a running job
    /// (LEASE_TIMEOUT, seconds, default 30, at least three heartbeat intervals).</summary>
    public TimeSpan LeaseTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes of combined stdout and stderr kept per run, the last ones
    /// (OUTPUT_LIMIT_BYTES, default 65536).</summary>
    public int OutputLimitBytes { get; init; } = 64 * 1024;

    /// <summary>Shell that runs job commands (JOB_SHELL): sh, bash, cmd, pwsh, powershell or an
    /// absolute path to a shell that takes <c>-c COMMAND</c>. Default cmd on Windows, else sh.
    /// </summary>
    public string JobShell { get; init; } = OperatingSystem.IsWindows() ? "cmd" : "sh";

    /// <summary>Folder for the daily rolling log file (LOG_DIR, default <c>logs</c> beside the
    /// executable). An empty value turns the file log off.</summary>
    public string LogDirectory { get; init; } = Path.Combine(AppPaths.ExecutableFolder, "logs");

    /// <summary>Host names the HTTP server serves (ALLOWED_HOSTS, semicolon-separated,
    /// default localhost;127.0.0.1;[::1]). Other Host headers get 400, which stops DNS
    /// rebinding.</summary>
    public string AllowedHosts { get; init; } = "localhost;127.0.0.1;[::1]";

    /// <summary>Addresses the dashboard and API listen on (ASPNETCORE_URLS, which may also come
    /// from a .env file). A --urls argument wins over it.</summary>
    public string Urls { get; init; } = App.DefaultUrls;

    /// <summary>Secret that the API (as <c>Authorization: Bearer</c>) and the dashboard sign-in
    /// require (API_TOKEN, at least 16 characters). Unset means no sign-in, which is allowed only
    /// while the server listens on loopback addresses.</summary>
    public string? ApiToken { get; init; }

    /// <summary>Whether new jobs and freed slots wake the claim loop at once (WAKEUPS, default
    /// true). false leaves only the poll every CHECK_INTERVAL, as a plain polling scheduler
    /// works; it exists to measure the difference.</summary>
    public bool Wakeups { get; init; } = true;

    /// <summary>Name of this scheduler instance in the jobs table (NODE_NAME, default
    /// host:pid).</summary>
    public string NodeName { get; init; } =
        $"{Environment.MachineName.ToLowerInvariant()}:{Environment.ProcessId}";

    /// <summary>Builds the connection string; the password never reaches a log.</summary>
    public string ConnectionString(string? database = null)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = DbHost,
            Port = DbPort,
            Database = database ?? DbName,
            Username = DbUser,
            Password = DbPassword,
            ApplicationName = "JobScheduler " + NodeName,
            Timeout = 5,
            CommandTimeout = 30,
            // The scheduler needs a few connections at once (claim, heartbeat, results, LISTEN)
            // and the dashboard the rest; jobs themselves hold none.
            MaxPoolSize = 30,
            // Statements used twice on a connection are prepared there, so the server parses
            // and plans them once.
            MaxAutoPrepare = 50,
            AutoPrepareMinUsages = 2,
            // A connection back in the pool keeps its state, which saves a reset statement in
            // every scheduler cycle. The daemon sets no session state: it takes advisory locks
            // per transaction only, and its LISTEN connection does not come from the pool.
            NoResetOnClose = true,
        };
        return builder.ConnectionString;
    }

    /// <summary>Describes the database target for logs and the console, without the password.
    /// </summary>
    public string DatabaseDescription => $"{DbUser}@{DbHost}:{DbPort}/{DbName}";

    /// <summary>
    /// Reads settings from variables such as those of the environment. Every invalid value is
    /// reported at once, each with its name, the value and the fix.
    /// </summary>
    public static Settings Load(IReadOnlyDictionary<string, string?> variables)
    {
        var reader = new VariableReader(variables);
        var defaults = new Settings();
        var settings = new Settings
        {
            DbHost = reader.Text("DB_HOST", defaults.DbHost),
            DbPort = reader.Integer("DB_PORT", defaults.DbPort, 1, 65535),
            DbName = reader.Text("DB_NAME", defaults.DbName),
            DbUser = reader.Text("DB_USER", defaults.DbUser),
            DbPassword = reader.Text("DB_PASSWORD", defaults.DbPassword, allowEmpty: true),
            CheckInterval = reader.Seconds("CHECK_INTERVAL", defaults.CheckInterval),
            HeartbeatInterval = reader.Seconds("HEARTBEAT_INTERVAL", defaults.HeartbeatInterval),
            LeaseTimeout = reader.Seconds("LEASE_TIMEOUT", defaults.LeaseTimeout),
            OutputLimitBytes = reader.Integer(
                "OUTPUT_LIMIT_BYTES", defaults.OutputLimitBytes, 1024, 16 * 1024 * 1024),
            JobShell = reader.Text("JOB_SHELL", defaults.JobShell),
            LogDirectory = reader.Text("LOG_DIR", defaults.LogDirectory, allowEmpty: true),
            AllowedHosts = reader.Text("ALLOWED_HOSTS", defaults.AllowedHosts),
            Urls = reader.Text("ASPNETCORE_URLS", defaults.Urls),
            NodeName = reader.Text("NODE_NAME", defaults.NodeName),
            ApiToken = reader.Secret("API_TOKEN"),
            Wakeups = reader.Flag("WAKEUPS", defaults.Wakeups),
        };

        if (settings.LeaseTimeout < 3 * settings.HeartbeatInterval)
        {
            reader.Errors.Add(
                $"LEASE_TIMEOUT={settings.LeaseTimeout.TotalSeconds} s is shorter than three " +
                $"heartbeats (HEARTBEAT_INTERVAL={settings.HeartbeatInterval.TotalSeconds} s), " +
                "so one slow heartbeat would fail a live job; raise LEASE_TIMEOUT or lower " +
                "HEARTBEAT_INTERVAL.");
        }

        if (!ShellCommand.IsKnown(settings.JobShell))
        {
            reader.Errors.Add(
                $"JOB_SHELL='{settings.JobShell}' is not a known shell; use sh, bash, cmd, pwsh, " +
                "powershell or the absolute path of a shell that accepts -c COMMAND.");
        }

        if (reader.Errors.Count > 0)
        {
            throw new SettingsException(reader.Errors);
        }

        return settings;
    }

    /// <summary>Reads the process environment as a dictionary for <see cref="Load"/>.</summary>
    public static IReadOnlyDictionary<string, string?> EnvironmentVariables()
    {
        var comparer = RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? StringComparer.OrdinalIgnoreCase
            : StringComparer.Ordinal;
        var result = new Dictionary<string, string?>(comparer);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            result[(string)entry.Key] = (string?)entry.Value;
        }

        return result;
    }

    private sealed class VariableReader(IReadOnlyDictionary<string, string?> variables)
    {
        public List<string> Errors { get; } = [];

        public string Text(string name, string fallback, bool allowEmpty = false)
        {
            if (!variables.TryGetValue(name, out var value) || value is null)
            {
                return fallback;
            }

            if (!allowEmpty && string.IsNullOrWhiteSpace(value))
            {
                Errors.Add($"{name} is set but empty; remove it to use the default '{fallback}'.");
                return fallback;
            }

            return value.Trim();
        }

        public bool Flag(string name, bool fallback)
        {
            var text = Text(name, fallback ? "true" : "false").ToLowerInvariant();
            switch (text)
            {
                case "true" or "1" or "yes" or "on":
                    return true;
                case "false" or "0" or "no" or "off":
                    return false;
                default:
                    Errors.Add($"{name}='{text}' is invalid; use true or false.");
                    return fallback;
            }
        }

        /// <summary>Reads a secret; errors never repeat its value.</summary>
        public string? Secret(string name)
        {
            if (!variables.TryGetValue(name, out var value) || string.IsNullOrEmpty(value))
            {
                return null;
            }

            if (value.Trim().Length < 16)
            {
                Errors.Add($"{name} is shorter than 16 characters; use a long random secret, " +
                           "for example the output of: openssl rand -hex 32");
            }

            return value.Trim();
        }

        public int Integer(string name, int fallback, int min, int max)
        {
            var text = Text(name, fallback.ToString(CultureInfo.InvariantCulture));
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                && value >= min && value <= max)
            {
                return value;
            }

            Errors.Add($"{name}='{text}' is invalid; use a whole number from {min} to {max}.");
            return fallback;
        }

        public TimeSpan Seconds(string name, TimeSpan fallback)
        {
            var text = Text(name, fallback.TotalSeconds.ToString(CultureInfo.InvariantCulture));
            if (double.TryParse(
                    text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture,
                    out var seconds)
                && seconds >= 0.05 && seconds <= 86_400)
            {
                return TimeSpan.FromSeconds(seconds);
            }

            Errors.Add(
                $"{name}='{text}' is invalid; use a number of seconds from 0.05 to 86400, " +
                "such as 10.");
            return fallback;
        }
    }
}

/// <summary>Invalid start-up settings, one message per bad variable.</summary>
public sealed class SettingsException(IReadOnlyList<string> problems)
    : Exception("Invalid settings:" + Environment.NewLine + string.Join(Environment.NewLine,
        problems.Select(problem => "  " + problem)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
