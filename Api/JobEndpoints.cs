using System.ComponentModel;
using System.Globalization;
using JobScheduler.Data;
using Microsoft.AspNetCore.Http.Features;
using JobScheduler.Scheduling;

namespace JobScheduler.Api;

/// <summary>REST endpoints for jobs under /api/jobs.</summary>
public static class JobEndpoints
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;

    /// <summary>Maps the job endpoints under the given /api group.</summary>
    public static IEndpointRouteBuilder MapJobApi(this IEndpointRouteBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapGet("/", ListAsync)
            .WithSummary("List jobs newest first, without output, by status and name search")
            .Produces<JobPage>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithCommonProblems();
        jobs.MapPost("/", CreateAsync)
            .WithSummary("Create a job")
            .WithJsonBody<CreateJobBody>()
            .ReturnsJob(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        jobs.MapPost("/create", CreateAsync)
            .WithSummary("Create a job (same as POST /api/jobs)")
            .WithJsonBody<CreateJobBody>()
            .ReturnsJob(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        jobs.MapPost("/bulk", CreateManyAsync)
            .WithSummary("Create up to 10000 jobs in one statement, all or none")
            .WithJsonBody<CreateJobsBody>()
            .Produces<CreatedJobs>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        jobs.MapGet("/{id:long}", GetAsync)
            .WithSummary("Get one job with its exit code, error and output tail")
            .ReturnsJob()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithCommonProblems();
        jobs.MapGet("/{id:long}/runs", RunsAsync)
            .WithSummary("List a job's runs, oldest first")
            .Produces<List<JobRun>>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithCommonProblems();
        jobs.MapPost("/{id:long}/cancel", CancelAsync)
            .WithSummary("Cancel a queued job (200) or kill a running one (202)")
            .ReturnsJob()
            .Produces<Job>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        jobs.MapPost("/{id:long}/requeue", RequeueAsync)
            .WithSummary("Queue a finished job again")
            .ReturnsJob()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        jobs.MapDelete("/{id:long}", DeleteAsync)
            .WithSummary("Delete a job that is not running, with its runs")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        jobs.MapPatch("/{id:long}", UpdateAsync)
            .WithSummary("Change a job that is not running")
            .WithJsonBody<UpdateJobBody>()
            .ReturnsJob()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithCommonProblems();
        return api;
    }

    public sealed record JobPage(IReadOnlyList<Job> Jobs, string? NextCursor);

    // The parameters' descriptions document the query in the OpenAPI document.
    private static async Task<IResult> ListAsync(
        JobQueries queries,
        [Description("Only jobs of this status: queued, running, completed, failed or cancelled.")]
        string? status,
        [Description("Jobs per page, 1 to 1000; default 100.")] string? limit,
        [Description("The next_cursor of the previous page.")] string? cursor,
        [Description("Only jobs whose name contains this text, ignoring case; % and _ match " +
                     "themselves. At most 200 characters. With a search, a page may hold fewer " +
                     "than limit jobs, even none, while next_cursor is set.")]
        string? search,
        CancellationToken cancellationToken)
    {
        if (status is not null && !JobStatus.IsKnown(status))
        {
            return Problems.BadRequest(
                $"status '{status}' is unknown; use one of {string.Join(", ", JobStatus.All)}.");
        }

        var pageSize = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, out pageSize) || pageSize is < 1 or > MaxPageSize))
        {
            return Problems.BadRequest(
                $"limit '{limit}' is invalid; use a whole number from 1 to {MaxPageSize}.");
        }

        long? beforeId = null;
        if (cursor is not null)
        {
            if (!long.TryParse(cursor, out var parsed) || parsed < 1)
            {
                return Problems.BadRequest(
                    $"cursor '{cursor}' is invalid; pass the next_cursor of the previous page.");
            }

            beforeId = parsed;
        }

        // No name is longer than JobRequests.MaxNameLength, so a longer search cannot match.
        if (search?.Length > JobRequests.MaxNameLength)
        {
            return Problems.BadRequest(
                $"search is {search.Length} characters long; the limit is " +
                $"{JobRequests.MaxNameLength}, the maximum length of a name.");
        }

        // As on the dashboard, the search is trimmed, and an empty one filters nothing.
        var nameContains = string.IsNullOrWhiteSpace(search) ? null : search.Trim();
        var page = await queries.PageAsync(status, nameContains, beforeId, pageSize,
            cancellationToken);
        var next = page.OlderCursor?.ToString(CultureInfo.InvariantCulture);
        return Results.Ok(new JobPage(page.Jobs, next));
    }

    private static async Task<IResult> CreateAsync(
        HttpRequest request, JobQueries queries, WakeSignal wake, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadObjectAsync(request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var (newJob, errors) = JobRequests.ParseCreate(body, time.GetUtcNow().UtcDateTime);
        if (newJob is null)
        {
            return Problems.BadRequest(string.Join(" ", errors));
        }

        var job = await queries.CreateAsync(newJob, cancellationToken);
        if (job is null)
        {
            return Problems.Conflict(
                $"A job named '{newJob.Name}' already exists; choose another name.");
        }

        wake.Signal();
        return Results.Created($"/api/jobs/{job.Id}", job with { Output = job.Output ?? "" });
    }

    private static async Task<IResult> CreateManyAsync(
        HttpRequest request, JobQueries queries, WakeSignal wake, TimeProvider time,
        CancellationToken cancellationToken)
    {
        // Kestrel's limit for every other request is 1 MiB (see App), below this endpoint's.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = JobRequests.MaxBulkBytes;
        }

        var (body, problem) = await JsonBody.ReadObjectAsync(request, JobRequests.MaxBulkBytes,
            cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var (newJobs, errors) = JobRequests.ParseCreateMany(body, time.GetUtcNow().UtcDateTime);
        if (newJobs is null)
        {
            return Problems.BadRequest(string.Join(" ", errors));
        }

        var (ids, existing) = await queries.CreateManyAsync(newJobs, cancellationToken);
        if (ids is null)
        {
            return Problems.Conflict(existing.Count == 0
                ? "Another request created a job with one of these names at the same moment, so " +
                  "no job was created. Send the request again."
                : $"{existing.Count} of the names already exist, so no job was created: " +
                  $"{JobRequests.ListNames(existing)}. Choose other names.");
        }

        wake.Signal();
        return Results.Json(new CreatedJobs(ids.Count, ids), statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> GetAsync(
        long id, JobQueries queries, CancellationToken cancellationToken)
    {
        var job = await queries.GetAsync(id, cancellationToken);
        return job is null
            ? Problems.NotFound($"No job has id {id}.")
            : Results.Ok(job with { Output = job.Output ?? "" });
    }

    private static async Task<IResult> UpdateAsync(
        long id, HttpRequest request, JobQueries queries, WakeSignal wake, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadObjectAsync(request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var current = await queries.GetAsync(id, cancellationToken);
        if (current is null)
        {
            return Problems.NotFound($"No job has id {id}.");
        }

        var (changes, errors) = JobRequests.ParsePatch(body, current, time.GetUtcNow().UtcDateTime);
        if (errors.Count > 0)
        {
            return Problems.BadRequest(string.Join(" ", errors));
        }

        var (found, changed, duplicate) = await queries.UpdateAsync(id, changes, cancellationToken);
        if (duplicate)
        {
            return Problems.Conflict(
                $"A job named '{changes["name"]}' already exists; choose another name.");
        }

        if (found is null)
        {
            return Problems.NotFound($"No job has id {id}.");
        }

        if (!changed)
        {
            return Problems.Conflict($"Job {id} is running; change it after it finishes.");
        }

        wake.Signal();
        var job = (await queries.GetAsync(id, cancellationToken))!;
        return Results.Ok(job with { Output = job.Output ?? "" });
    }

    private static async Task<IResult> CancelAsync(
        long id, JobQueries queries, Scheduler scheduler, CancellationToken cancellationToken)
    {
        var (found, changed) = await queries.CancelAsync(id, cancellationToken);
        if (found is null)
        {
            return Problems.NotFound($"No job has id {id}.");
        }

        if (!changed)
        {
            return Problems.Conflict(
                $"Job {id} is {found}; only queued or running jobs can be cancelled.");
        }

        if (found == JobStatus.Running)
        {
            scheduler.RequestCancel(id);
        }

        var job = (await queries.GetAsync(id, cancellationToken))!;
        return found == JobStatus.Running
            ? Results.Accepted($"/api/jobs/{id}", job with { Output = job.Output ?? "" })
            : Results.Ok(job with { Output = job.Output ?? "" });
    }

    private static async Task<IResult> RequeueAsync(
        long id, JobQueries queries, WakeSignal wake, CancellationToken cancellationToken)
    {
        var (found, changed) = await queries.RequeueAsync(id, cancellationToken);
        if (found is null)
        {
            return Problems.NotFound($"No job has id {id}.");
        }

        if (!changed)
        {
            return Problems.Conflict(found == JobStatus.Running
                ? $"Job {id} is running; wait for it to finish or cancel it first."
                : $"Job {id} is already queued.");
        }

        wake.Signal();
        var job = (await queries.GetAsync(id, cancellationToken))!;
        return Results.Ok(job with { Output = job.Output ?? "" });
    }

    private static async Task<IResult> DeleteAsync(
        long id, JobQueries queries, CancellationToken cancellationToken)
    {
        var (found, changed) = await queries.DeleteAsync(id, cancellationToken);
        if (found is null)
        {
            return Problems.NotFound($"No job has id {id}.");
        }

        return changed
            ? Results.NoContent()
            : Problems.Conflict($"Job {id} is running; cancel it first, then delete it.");
    }

    private static async Task<IResult> RunsAsync(
        long id, JobQueries queries, CancellationToken cancellationToken)
    {
        var job = await queries.GetAsync(id, cancellationToken);
        if (job is null)
        {
            return Problems.NotFound($"No job has id {id}.");
        }

        return Results.Ok(await queries.RunsAsync(id, cancellationToken));
    }
}
