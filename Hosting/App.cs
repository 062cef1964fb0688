using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;
using JobScheduler.Scheduling;
using Microsoft.Extensions.FileProviders;
using Npgsql;
using Serilog;
using Serilog.Events;

namespace JobScheduler.Hosting;

/// <summary>Builds the daemon: scheduler, REST API and dashboard in one web application.</summary>
public static class App
{
    public const string DefaultUrls = "http://localhost:8080";

    public static WebApplication Build(string[] args, Settings settings)
    {
        // The content root is the executable's folder, never the working folder, so a service
        // started in a system folder works the same.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
            // Pages are found in the application's assembly, also when a test host starts it.
            ApplicationName = typeof(App).Assembly.GetName().Name,
        });
        builder.Configuration["AllowedHosts"] = settings.AllowedHosts;
        // A --urls argument wins. Otherwise ASPNETCORE_URLS applies from the environment or
        // from a .env file, whose values stay out of the process environment.
        var urls = builder.Configuration["urls"];
        if (string.IsNullOrEmpty(urls))
        {
            urls = settings.Urls;
            builder.WebHost.UseUrls(urls);
        }

        // Security: beyond loopback only with API_TOKEN, which the API and dashboard then require.
        Security.CheckExposure(urls, settings);
        builder.Services.AddTokenAuthentication(settings);

        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = 1024 * 1024);

        // Logging: Serilog to the console and a daily rolling file; the password is never logged.
        builder.Services.AddSerilog(logger => ConfigureLogging(logger, settings));

        // Graceful shutdown waits for running jobs however long they take.
        builder.Services.Configure<HostOptions>(host =>
            host.ShutdownTimeout = Timeout.InfiniteTimeSpan);

        // Data: one pooled data source for the scheduler, the API and the dashboard.
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(settings.ConnectionString()));
        builder.Services.AddSingleton<DatabaseStatus>();
        builder.Services.AddSingleton<LiveConfig>();
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddSingleton<JobQueries>();
        builder.Services.AddSingleton<ConfigStore>();

        // Scheduling: the claim loop, the job runner and the database wake-ups.
        builder.Services.AddSingleton<WakeSignal>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddSingleton<OccurrenceCalculator>();
        builder.Services.AddSingleton<Scheduler>();
        builder.Services.AddSingleton<SchedulerService>();
        builder.Services.AddHostedService(services => services.GetRequiredService<SchedulerService>());
        builder.Services.AddHostedService<WakeListener>();
        builder.Services.AddSingleton<RetentionService>();
        builder.Services.AddHostedService(services => services.GetRequiredService<RetentionService>());
        builder.Services.AddSingleton<SchedulerMetrics>();

        // Service managers: a Windows service or a systemd unit; both do nothing elsewhere.
        builder.Host.UseWindowsService();
        builder.Host.UseSystemd();

        // HTTP: snake_case JSON, problem details for errors, Razor Pages with antiforgery.
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower;
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.Services.AddExceptionHandler<DatabaseErrorHandler>();
        builder.Services.AddRazorPages(pages =>
        {
            if (settings.ApiToken is not null)
            {
                pages.Conventions.AuthorizeFolder("/", Security.DashboardPolicy);
                pages.Conventions.AllowAnonymousToPage("/SignIn");
            }
        });

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new ManifestEmbeddedFileProvider(typeof(App).Assembly, "wwwroot"),
        });
        if (settings.ApiToken is not null)
        {
            app.UseAuthentication();
            app.UseAuthorization();
        }

        app.Use(RequireSchemaForApi);
        var api = app.MapGroup("/api");
        if (settings.ApiToken is not null)
        {
            api.RequireAuthorization(Security.ApiPolicy);
        }

        api.MapJobApi();
        api.MapConfigApi();
        app.MapOperations(settings);
        app.MapOpenApi();
        app.MapRazorPages();
        return app;
    }

    /// <summary>Answers API requests with 503 until the database is prepared.</summary>
    private static async Task RequireSchemaForApi(HttpContext context, RequestDelegate next)
    {
        var database = context.RequestServices.GetRequiredService<DatabaseStatus>();
        if (!database.IsSchemaReady && (context.Request.Path.StartsWithSegments("/api")
                                         || context.Request.Path.StartsWithSegments("/metrics")))
        {
            context.Response.Headers.RetryAfter = "5";
            await Problems.DatabaseUnavailable(database.Problem ?? "it is still being prepared")
                .ExecuteAsync(context);
            return;
        }

        await next(context);
    }

    private static void ConfigureLogging(LoggerConfiguration logger, Settings settings)
    {
        logger.MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            // Antiforgery keys live in the user profile unencrypted, as on any Linux host; the
            // warning about it would greet every start.
            .MinimumLevel.Override("Microsoft.AspNetCore.DataProtection", LogEventLevel.Error)
            .Enrich.FromLogContext()
            .WriteTo.Console(
                outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}");
        if (!string.IsNullOrEmpty(settings.LogDirectory))
        {
            logger.WriteTo.File(
                Path.Combine(settings.LogDirectory, "jobscheduler-.log"),
                rollingInterval: RollingInterval.Day,
                retainedFileCountLimit: 14,
                shared: true,
                outputTemplate:
                "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}");
        }
    }
}
