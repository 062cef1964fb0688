// Sends the antiforgery token with every htmx request that is not a GET, and shows a banner
// while htmx requests fail, so that stale numbers are not taken for live ones.
(function () {
    "use strict";

    var tokenMeta = document.querySelector('meta[name="request-verification-token"]');

    document.addEventListener("htmx:configRequest", function (event) {
        if (tokenMeta && event.detail.verb !== "get") {
            event.detail.headers["RequestVerificationToken"] = tokenMeta.content;
        }
    });

    function showProblem(text) {
        var banner = document.getElementById("connection-problem");
        if (banner) {
            banner.textContent = text;
            banner.hidden = false;
        }
    }

    document.addEventListener("htmx:sendError", function () {
        showProblem("The daemon does not answer, so the data below may be stale. " +
            "Retrying every 2 s.");
    });

    document.addEventListener("htmx:responseError", function (event) {
        var xhr = event.detail.xhr;
        showProblem("A dashboard request failed with HTTP " + xhr.status + " " + xhr.statusText +
            ". Reload the page if this persists.");
    });

    document.addEventListener("htmx:afterRequest", function (event) {
        var banner = document.getElementById("connection-problem");
        if (banner && event.detail.successful) {
            banner.hidden = true;
        }
    });
})();
