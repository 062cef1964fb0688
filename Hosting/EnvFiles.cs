namespace JobScheduler.Hosting;

/// <summary>
/// Merges variables from <c>.env</c> files under those of the environment. The environment wins,
/// then <c>.env</c> in the working folder, then <c>.env</c> beside the executable, so a service
/// started in a system folder still finds the file placed beside it.
/// </summary>
public static class EnvFiles
{
    public static IReadOnlyDictionary<string, string?> Merge(
        IReadOnlyDictionary<string, string?> environment)
    {
        var merged = new Dictionary<string, string?>(environment, StringComparer.Ordinal);
        foreach (var path in CandidatePaths())
        {
            if (!File.Exists(path))
            {
                continue;
            }

            // Values stay out of the process environment so that job commands, which inherit
            // it, never see DB_PASSWORD or API_TOKEN.
            var options = new DotNetEnv.LoadOptions(
                setEnvVars: false, clobberExistingVars: false, onlyExactPath: true);
            foreach (var (key, value) in DotNetEnv.Env.Load(path, options))
            {
                merged.TryAdd(key, value);
            }
        }

        return merged;
    }

    /// <summary>Returns the .env files that exist, in the order they were read.</summary>
    public static IReadOnlyList<string> FoundFiles() => CandidatePaths().Where(File.Exists).ToList();

    private static IEnumerable<string> CandidatePaths()
    {
        var inWorkingFolder = Path.GetFullPath(".env");
        var besideExecutable = Path.GetFullPath(Path.Combine(AppPaths.ExecutableFolder, ".env"));
        yield return inWorkingFolder;
        if (!string.Equals(inWorkingFolder, besideExecutable, StringComparison.Ordinal))
        {
            yield return besideExecutable;
        }
    }
}
