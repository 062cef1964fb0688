using JobScheduler.Api;
using JobScheduler.Data;
using Microsoft.AspNetCore.Diagnostics;

namespace JobScheduler.Hosting;

/// <summary>Answers 503 with a problem, rather than 500, when a request fails because the
/// database is unreachable.</summary>
public sealed class DatabaseErrorHandler(DatabaseStatus database) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(
        HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (!DatabaseStatus.IsOutage(exception))
        {
            return false;
        }

        database.ReportOutage(exception, $"serving {context.Request.Method} {context.Request.Path}");
        context.Response.Headers.RetryAfter = "5";
        await Problems.DatabaseUnavailable(database.Problem).ExecuteAsync(context);
        return true;
    }
}
