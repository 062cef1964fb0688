using JobScheduler.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace JobScheduler.Pages;

/// <summary>Signs a person in to the dashboard with the API token, which sets a cookie.
/// </summary>
public sealed class SignInModel(Settings settings, ILogger<SignInModel> logger) : PageModel
{
    // Slows guessing through the form; the token itself is long enough that this is a courtesy.
    private static readonly TimeSpan FailureDelay = TimeSpan.FromMilliseconds(500);

    public bool SignInRequired => settings.ApiToken is not null;

    public string? Error { get; private set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(string? token)
    {
        if (!SignInRequired)
        {
            return LocalRedirect("/");
        }

        if (string.IsNullOrEmpty(token) || !Security.TokenMatches(token, settings.ApiToken!))
        {
            logger.LogWarning("Dashboard sign-in failed from {RemoteAddress}",
                HttpContext.Connection.RemoteIpAddress);
            await Task.Delay(FailureDelay, HttpContext.RequestAborted);
            Error = "The token does not match API_TOKEN.";
            return Page();
        }

        await Security.SignInAsync(HttpContext);
        return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/");
    }

    public async Task<IActionResult> OnPostSignOutAsync()
    {
        if (SignInRequired)
        {
            await HttpContext.SignOutAsync(Security.CookieScheme);
        }

        return LocalRedirect(SignInRequired ? Security.SignInPath : "/");
    }
}
