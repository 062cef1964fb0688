namespace JobScheduler.Api;

/// <summary>RFC 9457 problem details for the API's error responses.</summary>
public static class Problems
{
    public static IResult BadRequest(string detail) =>
        Results.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    public static IResult NotFound(string detail) =>
        Results.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static IResult Conflict(string detail) =>
        Results.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict");

    public static IResult UnsupportedMediaType(string detail) =>
        Results.Problem(detail, statusCode: StatusCodes.Status415UnsupportedMediaType,
            title: "Unsupported media type");

    public static IResult TooLarge(int maxBytes) =>
        Results.Problem($"The body is larger than the {maxBytes} bytes the API accepts.",
            statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large");

    public static IResult DatabaseUnavailable(string? problem) =>
        Results.Problem(
            "The database is unreachable" + (problem is null ? "" : ": " + problem) +
            ". The daemon keeps retrying; try again shortly.",
            statusCode: StatusCodes.Status503ServiceUnavailable, title: "Database unavailable");
}
