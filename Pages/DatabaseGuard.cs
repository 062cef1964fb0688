using JobScheduler.Data;

namespace JobScheduler.Pages;

/// <summary>Runs dashboard queries so that a database outage renders as a banner that clears on
/// the next poll, rather than as an error page.</summary>
public static class DatabaseGuard
{
    /// <summary>Runs the queries unless the schema is not ready yet. Returns null when they ran,
    /// or the outage to show. Errors that are not an outage propagate.</summary>
    public static async Task<string?> RunAsync(
        DatabaseStatus database, string activity, Func<Task> queries)
    {
        if (!database.IsSchemaReady)
        {
            return database.Problem ?? "the daemon is still preparing the database schema";
        }

        try
        {
            await queries();
            return null;
        }
        catch (Exception e) when (DatabaseStatus.IsOutage(e))
        {
            database.ReportOutage(e, activity);
            return database.Problem ?? e.Message;
        }
    }
}
