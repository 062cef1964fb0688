using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using JobScheduler.Hosting;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Api;

[TestClass]
public sealed partial class SecurityTests
{
    private const string Token = "test-token-0123456789abcdef";

    [TestMethod]
    [DataRow("http://localhost:8080", true)]
    [DataRow("http://127.0.0.1:8080", true)]
    [DataRow("http://127.8.9.10:1", true)]
    [DataRow("http://[::1]:8080", true)]
    [DataRow("http://0.0.0.0:8080", false)]
    [DataRow("http://*:8080", false)]
    [DataRow("http://+:8080", false)]
    [DataRow("http://[::]:8080", false)]
    [DataRow("http://192.0.2.7:8080", false)]
    [DataRow("http://scheduler.example:8080", false)]
    public void IsLoopback_Url_ClassifiedCorrectly(string url, bool loopback)
    {
        Assert.AreEqual(loopback, Security.IsLoopback(url));
    }

    [TestMethod]
    public async Task Start_BeyondLoopbackWithoutToken_ExitsWithReason()
    {
        var settings = await TestDatabase.CreateAsync();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetTempPath(),
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "JobScheduler.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://0.0.0.0:0");
        start.Environment["DB_PORT"] = settings.DbPort.ToString();
        start.Environment["DB_NAME"] = settings.DbName;

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(deadline.Token);

        Assert.AreEqual(2, process.ExitCode);
        StringAssert.Contains(await error, "Set API_TOKEN");
        StringAssert.Contains(await error, "http://0.0.0.0:0");
    }

    [TestMethod]
    public async Task Start_UrlsFromEnvFile_AppliedAndChecked()
    {
        var settings = await TestDatabase.CreateAsync();
        var folder = Directory.CreateTempSubdirectory("jobscheduler-env-");
        await File.WriteAllTextAsync(Path.Combine(folder.FullName, ".env"),
            "ASPNETCORE_URLS=http://0.0.0.0:0\n");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = folder.FullName,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "JobScheduler.dll"));
        start.Environment["DB_PORT"] = settings.DbPort.ToString();
        start.Environment["DB_NAME"] = settings.DbName;
        start.Environment.Remove("ASPNETCORE_URLS");

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            folder.Delete(recursive: true);
        }

        Assert.AreEqual(2, process.ExitCode);
        StringAssert.Contains(await error, "http://0.0.0.0:0");
        StringAssert.Contains(await error, "Set API_TOKEN");
    }

    [TestMethod]
    public async Task Start_ShortToken_RejectedWithoutEchoingIt()
    {
        var error = Assert.Throws<SettingsException>(() => Settings.Load(
            new Dictionary<string, string?> { ["API_TOKEN"] = "short-secret" }));

        StringAssert.Contains(error.Message, "API_TOKEN is shorter than 16 characters");
        Assert.DoesNotContain("short-secret", error.Message);
    }

    [TestMethod]
    public async Task Api_WithToken_RequiresMatchingBearer()
    {
        var settings = (await TestDatabase.CreateAsync()) with { ApiToken = Token };
        await using var app = await TestApp.StartAsync(settings);

        var anonymous = await app.Client.GetAsync("/api/stats");
        var wrong = await SendAsync(app, HttpMethod.Get, "/api/stats", "wrong-token-0123456789");
        var right = await SendAsync(app, HttpMethod.Get, "/api/stats", Token);
        var createAnonymous = await app.Client.PostAsync("/api/jobs",
            new StringContent("""{"name":"x","command":"true"}""", Encoding.UTF8, "application/json"));

        Assert.AreEqual(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.AreEqual("Bearer", anonymous.Headers.WwwAuthenticate.ToString());
        StringAssert.Contains(await anonymous.Content.ReadAsStringAsync(), "Authorization: Bearer");
        Assert.AreEqual(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.AreEqual(HttpStatusCode.OK, right.StatusCode);
        Assert.AreEqual(HttpStatusCode.Unauthorized, createAnonymous.StatusCode);
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(settings.ConnectionString(), "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Dashboard_WithToken_RequiresSignIn()
    {
        var settings = (await TestDatabase.CreateAsync()) with { ApiToken = Token };
        await using var app = await TestApp.StartAsync(settings);
        using var handler = new HttpClientHandler
        {
            AllowAutoRedirect = false, CookieContainer = new CookieContainer(),
        };
        using var browser = new HttpClient(handler) { BaseAddress = app.Address };

        var before = await browser.GetAsync("/");
        var htmxBefore = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/")
        {
            Headers = { { "HX-Request", "true" } },
        });
        var signInPage = await browser.GetStringAsync("/signin?ReturnUrl=%2F");
        var antiforgery = AntiforgeryField().Match(signInPage).Groups[1].Value;
        var wrong = await browser.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = "wrong-token-0123456789", ["__RequestVerificationToken"] = antiforgery,
        }));
        var right = await browser.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = Token, ["returnUrl"] = "/", ["__RequestVerificationToken"] = antiforgery,
        }));
        var after = await browser.GetAsync("/");

        Assert.AreEqual(HttpStatusCode.Redirect, before.StatusCode);
        StringAssert.StartsWith(before.Headers.Location?.ToString(), $"{app.Address}signin");
        Assert.AreEqual(HttpStatusCode.Unauthorized, htmxBefore.StatusCode);
        Assert.AreEqual("/signin", htmxBefore.Headers.GetValues("HX-Redirect").Single());
        Assert.AreEqual(HttpStatusCode.OK, wrong.StatusCode);
        StringAssert.Contains(await wrong.Content.ReadAsStringAsync(), "does not match API_TOKEN");
        Assert.AreEqual(HttpStatusCode.Redirect, right.StatusCode);
        Assert.AreEqual(HttpStatusCode.OK, after.StatusCode);
        StringAssert.Contains(await after.Content.ReadAsStringAsync(), "max_concurrent_jobs");
    }

    [TestMethod]
    public async Task SignIn_WithoutAntiforgeryToken_Rejected()
    {
        var settings = (await TestDatabase.CreateAsync()) with { ApiToken = Token };
        await using var app = await TestApp.StartAsync(settings);

        var response = await app.Client.PostAsync("/signin",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = Token }));

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [TestMethod]
    [DataRow("evil.example")]
    [DataRow("evil.example:8080")]
    [DataRow("127.0.0.1.nip.example")]
    public async Task HostHeader_NotAllowed_Returns400(string host)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/stats");
        request.Headers.Host = host;

        var response = await app.Client.SendAsync(request);

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [TestMethod]
    public async Task CrossOrigin_FormPost_CreatesNothingAndSendsNoCorsHeaders()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var preflight = new HttpRequestMessage(HttpMethod.Options, "/api/jobs");
        preflight.Headers.Add("Origin", "https://attacker.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "content-type");
        var simple = new HttpRequestMessage(HttpMethod.Post, "/api/jobs/create")
        {
            Content = new StringContent("""{"name":"csrf","command":"touch /tmp/pwned"}""",
                Encoding.UTF8, "text/plain"),
        };
        simple.Headers.Add("Origin", "https://attacker.example");

        var preflightResponse = await app.Client.SendAsync(preflight);
        var simpleResponse = await app.Client.SendAsync(simple);

        Assert.IsFalse(preflightResponse.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.IsFalse(simpleResponse.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.AreEqual(HttpStatusCode.UnsupportedMediaType, simpleResponse.StatusCode);
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(), "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Secrets_NeverInLogsOrResponses()
    {
        const string password = "db-password-never-logged-42";
        var settings = await TestDatabase.CreateAsync();
        await using var daemon = await DaemonProcess.StartAsync(
            settings with { DbPassword = password },
            new Dictionary<string, string> { ["API_TOKEN"] = Token },
            waitForDatabase: false);

        var stats = await daemon.Client.GetAsync("/api/stats");
        var wrongToken = new HttpRequestMessage(HttpMethod.Get, "/api/config");
        wrongToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
        var config = await daemon.Client.SendAsync(wrongToken);
        await Eventually.WaitAsync(() => daemon.Output.Contains("password authentication failed"),
            "the failed database login to be logged");

        Assert.AreEqual(HttpStatusCode.ServiceUnavailable, stats.StatusCode);
        Assert.AreEqual(HttpStatusCode.Unauthorized, config.StatusCode);
        Assert.DoesNotContain(password, daemon.Output);
        Assert.DoesNotContain(Token, daemon.Output);
        Assert.DoesNotContain(password, await stats.Content.ReadAsStringAsync());
    }

    private static Task<HttpResponseMessage> SendAsync(TestApp app, HttpMethod method, string url, string token)
    {
        var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return app.Client.SendAsync(request);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
