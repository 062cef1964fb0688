using System.Net.Http.Json;
using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace JobScheduler.Tests.Support;

/// <summary>
/// One daemon instance in this process, on a free loopback port, against a test database. Several
/// of them on one database behave as several daemons.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private TestApp(WebApplication app, Settings settings, Uri address)
    {
        Application = app;
        Settings = settings;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication Application { get; }

    public Settings Settings { get; }

    public HttpClient Client { get; }

    public Uri Address => Client.BaseAddress!;

    public static async Task<TestApp> StartAsync(Settings settings, bool waitForSchema = true)
    {
        var app = App.Build(["--urls", "http://127.0.0.1:0"], settings);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features
            .Get<IServerAddressesFeature>()!.Addresses.First();
        var testApp = new TestApp(app, settings, new Uri(address));
        if (waitForSchema)
        {
            await app.Services.GetRequiredService<DatabaseStatus>().SchemaReady
                .WaitAsync(TimeSpan.FromSeconds(30));
        }

        return testApp;
    }

    public T Service<T>() where T : notnull => Application.Services.GetRequiredService<T>();

    public async Task<Job> CreateJobAsync(string name, string command, int priority = 0)
    {
        var response = await Client.PostAsJsonAsync("/api/jobs/create",
            new { name, command, priority }, Json);
        Assert.AreEqual(System.Net.HttpStatusCode.Created, response.StatusCode,
            await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<Job>(Json))!;
    }

    /// <summary>Creates a job from any body the API accepts, such as an anonymous object with
    /// snake_case names, and expects 201.</summary>
    public async Task<Job> CreateJobAsync(object body)
    {
        var response = await Client.PostAsJsonAsync("/api/jobs", body, Json);
        Assert.AreEqual(System.Net.HttpStatusCode.Created, response.StatusCode,
            await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<Job>(Json))!;
    }

    public async Task<Job> GetJobAsync(long id) =>
        (await Client.GetFromJsonAsync<Job>($"/api/jobs/{id}", Json))!;

    public Task<Job> WaitForStatusAsync(long id, string status, TimeSpan? timeout = null) =>
        Eventually.WaitAsync(() => GetJobAsync(id), job => job.Status == status,
            $"job {id} to be {status}", timeout);

    public NpgsqlConnection OpenConnection()
    {
        var connection = new NpgsqlConnection(Settings.ConnectionString() + ";Pooling=false");
        connection.Open();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Application.StopAsync();
        await Application.DisposeAsync();
    }
}
