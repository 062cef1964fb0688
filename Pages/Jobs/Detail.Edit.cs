using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;
using Microsoft.AspNetCore.Mvc;

namespace JobScheduler.Pages.Jobs;

/// <summary>The job page's handlers that change a job's fields, with the rules of
/// PATCH /api/jobs/{id}: JobRequests.ParsePatch checks the change, JobQueries.UpdateAsync
/// stores it unless the job runs, and the scheduler wakes to claim by the new fields.</summary>
public sealed partial class DetailModel
{
    public Task<IActionResult> OnPostEnableAsync(long id, CancellationToken cancellationToken) =>
        SetEnabledAsync(id, enabled: true, cancellationToken);

    public Task<IActionResult> OnPostDisableAsync(long id, CancellationToken cancellationToken) =>
        SetEnabledAsync(id, enabled: false, cancellationToken);

    /// <summary>Stores the fields of the edit form that the user changed and that differ from
    /// the job as stored. On success a plain post redirects to the page, and an htmx post makes
    /// htmx load it. A rejected form comes back with its errors: in TempData across the redirect
    /// of a plain post, or as the form itself for htmx.</summary>
    public async Task<IActionResult> OnPostEditAsync(
        long id, string? name, string? command, string? priority,
        [FromForm(Name = EditJobForm.RunAtField)] string? runAt,
        [FromForm(Name = AddJobForm.TimeoutField)] string? timeoutSeconds,
        [FromForm(Name = AddJobForm.MaxAttemptsField)] string? maxAttempts,
        [FromForm(Name = AddJobForm.RetryDelayField)] string? retryDelaySeconds,
        string? schedule,
        [FromForm(Name = AddJobForm.TimeZoneField)] string? timeZone,
        [FromForm(Name = AddJobForm.EnabledField)] string[]? enabled,
        [FromForm(Name = EditJobForm.OriginalField)] string? original,
        CancellationToken cancellationToken)
    {
        Id = id;
        var form = EditJobForm.FromSubmission(name, command, priority, runAt, timeoutSeconds,
            maxAttempts, retryDelaySeconds, schedule, timeZone,
            AddJobForm.CheckboxValue(enabled, absent: true), original);
        EditForm = form;
        ActionOutcome? saved = null;
        var problem = await DatabaseGuard.RunAsync(database, "editing a job from the dashboard",
            async () => saved = await SaveEditAsync(id, form, cancellationToken));
        if (problem is not null)
        {
            form.Failure = $"Database unreachable: {problem}. Job {id} may not have changed; " +
                           "check it once the database is back.";
        }

        var htmx = Request.Headers["HX-Request"] == "true";
        if (saved is not null)
        {
            TempData[OutcomeTempDataKey] = JsonSerializer.Serialize(saved);
            if (!htmx)
            {
                return RedirectToPage("/Jobs/Detail", new { id });
            }

            Response.Headers["HX-Redirect"] = Url.Page("/Jobs/Detail", new { id });
            return new OkResult();
        }

        if (!htmx)
        {
            TempData[EditTempDataKey] = JsonSerializer.Serialize(form.ForRedirect());
            return RedirectToPage("/Jobs/Detail", new { id });
        }

        return Partial("_EditJobForm", this);
    }

    /// <summary>Checks and stores the edit. Returns the outcome to show on the page, or null
    /// with the form's errors or failure set.</summary>
    private async Task<ActionOutcome?> SaveEditAsync(
        long id, EditJobForm form, CancellationToken cancellationToken)
    {
        var current = await queries.GetAsync(id, cancellationToken);
        Job = current;
        if (current is null)
        {
            form.Failure = $"No job has id {id}; it may have been deleted.";
            return null;
        }

        if (form.ToPatch(current) is not { } body)
        {
            return null;
        }

        if (!body.EnumerateObject().Any())
        {
            form.Failure = "Nothing was changed: no field was edited, or each edited field " +
                           "already has that value.";
            return null;
        }

        var (changes, errors) = JobRequests.ParsePatch(body, current,
            time.GetUtcNow().UtcDateTime);
        if (errors.Count > 0)
        {
            form.AddErrors(errors);
            return null;
        }

        var (found, changed, duplicate) = await queries.UpdateAsync(id, changes,
            cancellationToken);
        if (duplicate)
        {
            form.Errors[AddJobForm.NameField] =
                $"A job named '{changes[AddJobForm.NameField]}' already exists; choose another " +
                "name.";
            return null;
        }

        if (found is null || !changed)
        {
            form.Failure = Refusal(id, found, "edit it after this run finishes").Message;
            Job = await queries.GetAsync(id, cancellationToken);
            return null;
        }

        wake.Signal();
        var fields = string.Join(", ", changes.Keys);
        logger.LogInformation("Dashboard changed {Fields} of job {JobId}", fields, id);
        return new ActionOutcome($"Job {id} was updated: {fields}.", Failed: false);
    }

    private async Task<IActionResult> SetEnabledAsync(
        long id, bool enabled, CancellationToken cancellationToken)
    {
        var activity = (enabled ? "enabling" : "disabling") + " a job from the dashboard";
        var message = await ChangeAsync(id, activity, async () =>
        {
            var current = await queries.GetAsync(id, cancellationToken);
            if (current is null)
            {
                return Refusal(id, null, "");
            }

            var body = JsonSerializer.SerializeToElement(
                new Dictionary<string, bool> { [AddJobForm.EnabledField] = enabled });
            var (changes, errors) = JobRequests.ParsePatch(body, current,
                time.GetUtcNow().UtcDateTime);
            if (errors.Count > 0)
            {
                return new ActionOutcome($"Job {id} was not changed: " +
                                         string.Join(" ", errors), Failed: true);
            }

            var (found, changed, _) = await queries.UpdateAsync(id, changes, cancellationToken);
            if (found is null || !changed)
            {
                return Refusal(id, found, (enabled ? "enable" : "disable") +
                                          " it after this run finishes");
            }

            wake.Signal();
            logger.LogInformation("Dashboard set enabled = {Enabled} on job {JobId}", enabled, id);
            return new ActionOutcome(EnabledMessage(id, enabled, changes), Failed: false);
        });
        return RedirectWith(id, message);
    }

    private static string EnabledMessage(
        long id, bool enabled, IReadOnlyDictionary<string, object?> changes)
    {
        if (!enabled)
        {
            return $"Job {id} is disabled: it is not claimed until it is enabled again.";
        }

        return changes.GetValueOrDefault(EditJobForm.RunAtField) is DateTime next
            ? $"Job {id} is enabled; its next run is at {Display.Time(next)} UTC."
            : $"Job {id} is enabled.";
    }
}
