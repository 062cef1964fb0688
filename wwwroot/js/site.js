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

// Advances the elapsed time of running jobs every second between polls. Each value counts on
// from what the server rendered (data-elapsed-ms) when it appeared, so the browser's clock does
// not matter. The format matches Display.Elapsed on the server.
(function () {
    "use strict";

    function format(totalMs) {
        var seconds = Math.max(0, Math.floor(totalMs / 1000));
        if (seconds < 60) {
            return seconds + " s";
        }
        if (seconds < 3600) {
            return Math.floor(seconds / 60) + " min " + pad(seconds % 60) + " s";
        }
        return Math.floor(seconds / 3600) + " h " + pad(Math.floor(seconds / 60) % 60) + " min";
    }

    function pad(number) {
        return (number < 10 ? "0" : "") + number;
    }

    function tick() {
        var now = performance.now();
        document.querySelectorAll(".elapsed[data-elapsed-ms]").forEach(function (element) {
            if (element.shownAt === undefined) {
                element.shownAt = now;
                element.renderedMs = Number(element.getAttribute("data-elapsed-ms"));
            }
            element.textContent = format(element.renderedMs + now - element.shownAt);
        });
    }

    setInterval(tick, 1000);
})();

// Disables the job page's edit form while the job runs, as the server does when it renders the
// page. The form stays outside the polled block so that a poll keeps what the user typed, so
// the status comes from the data-status of the block the poll just swapped in.
(function () {
    "use strict";

    document.addEventListener("htmx:afterSettle", function () {
        var detail = document.getElementById("job-detail");
        var fields = document.getElementById("edit-job-fields");
        var reason = document.getElementById("edit-job-running");
        if (!detail || !fields || !reason) {
            return;
        }
        var running = detail.getAttribute("data-status") === "running";
        fields.disabled = running;
        reason.hidden = !running;
    });
})();
