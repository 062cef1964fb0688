using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Options;

namespace JobScheduler.Hosting;

/// <summary>
/// Sign-in for the API and the dashboard. The API runs arbitrary commands, so a server that
/// listens beyond loopback must have API_TOKEN set; with a token, the API takes it as a bearer
/// token and the dashboard as a sign-in that sets a cookie.
/// </summary>
public static class Security
{
    public const string BearerScheme = "ApiToken";
    public const string CookieScheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string ApiPolicy = "Api";
    public const string DashboardPolicy = "Dashboard";
    public const string SignInPath = "/signin";

    /// <summary>Throws when the server would listen beyond loopback without a token.</summary>
    public static void CheckExposure(string urls, Settings settings)
    {
        if (settings.ApiToken is not null)
        {
            return;
        }

        var exposed = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(url => !IsLoopback(url))
            .ToList();
        if (exposed.Count > 0)
        {
            throw new SettingsException([
                $"The server would listen on {string.Join(", ", exposed)}, which other machines " +
                "can reach, and the API runs shell commands. Set API_TOKEN to a long random " +
                "secret (for example the output of: openssl rand -hex 32) to require sign-in, " +
                "or listen on loopback only, such as --urls http://localhost:8080.",
            ]);
        }
    }

    /// <summary>Tells whether a URL such as http://127.0.0.1:8080 binds loopback addresses only.
    /// Wildcards (*, +, 0.0.0.0, [::]) and other host names bind beyond loopback.</summary>
    public static bool IsLoopback(string url)
    {
        var hostStart = url.IndexOf("://", StringComparison.Ordinal);
        var host = hostStart < 0 ? url : url[(hostStart + 3)..];
        var pathStart = host.IndexOf('/');
        if (pathStart >= 0)
        {
            host = host[..pathStart];
        }

        var portStart = host.LastIndexOf(':');
        if (portStart > host.LastIndexOf(']'))
        {
            host = host[..portStart];
        }

        host = host.Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    public static void AddTokenAuthentication(this IServiceCollection services, Settings settings)
    {
        if (settings.ApiToken is null)
        {
            return;
        }

        services.AddAuthentication(CookieScheme)
            .AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(BearerScheme, null)
            .AddCookie(CookieScheme, cookie =>
            {
                cookie.LoginPath = SignInPath;
                cookie.Cookie.Name = "jobscheduler_session";
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SameSite = SameSiteMode.Strict;
                cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                cookie.ExpireTimeSpan = TimeSpan.FromDays(7);
                cookie.SlidingExpiration = true;
                // htmx polls get 401 rather than the sign-in page swapped into a fragment.
                cookie.Events.OnRedirectToLogin = context =>
                {
                    if (context.Request.Headers.ContainsKey("HX-Request"))
                    {
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        context.Response.Headers["HX-Redirect"] = SignInPath;
                        return Task.CompletedTask;
                    }

                    context.Response.Redirect(context.RedirectUri);
                    return Task.CompletedTask;
                };
            });
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiPolicy, policy => policy
                .AddAuthenticationSchemes(BearerScheme)
                .RequireAuthenticatedUser())
            .AddPolicy(DashboardPolicy, policy => policy
                .AddAuthenticationSchemes(CookieScheme)
                .RequireAuthenticatedUser());
    }

    /// <summary>Compares a presented token with the configured one in constant time. Hashing
    /// both first keeps the comparison's time independent of their lengths too.</summary>
    public static bool TokenMatches(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    /// <summary>Signs the dashboard user in with a cookie once the token matched.</summary>
    public static Task SignInAsync(HttpContext context) =>
        context.SignInAsync(CookieScheme, new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, "operator")], CookieScheme)));

    private sealed class BearerTokenHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options,
        ILoggerFactory logger,
        UrlEncoder encoder,
        Settings settings) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var header = Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            if (!TokenMatches(header["Bearer ".Length..].Trim(), settings.ApiToken!))
            {
                return Task.FromResult(AuthenticateResult.Fail("The bearer token does not match API_TOKEN."));
            }

            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "api")], Scheme.Name);
            return Task.FromResult(AuthenticateResult.Success(
                new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
        }

        protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
        {
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            Response.Headers.WWWAuthenticate = "Bearer";
            await Results.Problem(
                "This API requires Authorization: Bearer <API_TOKEN>.",
                statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized")
                .ExecuteAsync(Context);
        }
    }
}
