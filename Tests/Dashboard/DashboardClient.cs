using System.Net;
using System.Text.RegularExpressions;

namespace JobScheduler.Tests.Dashboard;

/// <summary>
/// A plain HTTP client that behaves like a browser on the dashboard: it keeps cookies, so the
/// antiforgery cookie and TempData survive between requests, and it follows redirects.
/// </summary>
public sealed partial class DashboardClient : IDisposable
{
    public const string TokenField = "__RequestVerificationToken";

    private readonly HttpClient _client;

    public DashboardClient(Uri address)
    {
        var handler = new HttpClientHandler
        {
            CookieContainer = new CookieContainer(),
            UseCookies = true,
            AllowAutoRedirect = true,
        };
        _client = new HttpClient(handler)
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public Task<HttpResponseMessage> GetAsync(string path) => _client.GetAsync(path);

    /// <summary>Gets a page or partial and asserts 200.</summary>
    public async Task<string> GetStringAsync(string path)
    {
        using var response = await _client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, $"GET {path}: {body}");
        return body;
    }

    /// <summary>Loads the dashboard, which sets the antiforgery cookie, and returns the token of
    /// its hidden form input.</summary>
    public async Task<string> ReadTokenAsync()
    {
        var page = await GetStringAsync("/");
        var match = TokenInput().Match(page);
        Assert.IsTrue(match.Success, $"The dashboard has no {TokenField} input.");
        return WebUtility.HtmlDecode(match.Groups["token"].Value);
    }

    /// <summary>Posts form fields as a browser does, or as htmx does when <paramref name="htmx"/>
    /// is set. A field may occur more than once, as a checkbox with its hidden field does. A
    /// token in <paramref name="headerToken"/> goes in the header that the dashboard's script
    /// sets.</summary>
    public async Task<HttpResponseMessage> PostFormAsync(
        string path, IEnumerable<KeyValuePair<string, string>> fields, bool htmx = false,
        string? headerToken = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new FormUrlEncodedContent(fields),
        };
        if (htmx)
        {
            request.Headers.Add("HX-Request", "true");
        }

        if (headerToken is not null)
        {
            request.Headers.Add("RequestVerificationToken", headerToken);
        }

        return await _client.SendAsync(request);
    }

    /// <summary>Posts a dashboard form with the page's antiforgery token and returns the final
    /// page or fragment, asserting 200.</summary>
    public Task<string> SubmitAsync(
        string handler, IEnumerable<KeyValuePair<string, string>> fields, bool htmx = false) =>
        SubmitToAsync($"/?handler={handler}", fields, htmx);

    /// <summary>Posts the form of any dashboard page, such as <c>/jobs/7?handler=Edit</c>, with
    /// the antiforgery token, and returns the final page or fragment, asserting 200.</summary>
    public async Task<string> SubmitToAsync(
        string path, IEnumerable<KeyValuePair<string, string>> fields, bool htmx = false)
    {
        var withToken = fields.Where(field => field.Key != TokenField)
            .Append(new(TokenField, await ReadTokenAsync()));
        using var response = await PostFormAsync(path, withToken, htmx);
        var body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, body);
        return body;
    }

    public void Dispose() => _client.Dispose();

    [GeneratedRegex(
        """"<input[^>]*name="__RequestVerificationToken"[^>]*value="(?<token>[^"]+)"""")]
    private static partial Regex TokenInput();
}
