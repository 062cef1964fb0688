using System.Text.Json;

namespace JobScheduler.Api;

/// <summary>
/// Reads an API request body as one JSON object, turning every client mistake into a problem
/// result: wrong content type 415, too large 413, not JSON or not an object 400.
/// </summary>
public static class JsonBody
{
    /// <summary>Largest accepted body, in bytes.</summary>
    public const int MaxBytes = 64 * 1024;

    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 16 };

    public static Task<(JsonElement Body, IResult? Problem)> ReadObjectAsync(
        HttpRequest request, CancellationToken cancellationToken) =>
        ReadObjectAsync(request, MaxBytes, cancellationToken);

    /// <summary>Reads the body as one JSON object of at most <paramref name="maxBytes"/> bytes.
    /// </summary>
    public static async Task<(JsonElement Body, IResult? Problem)> ReadObjectAsync(
        HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
        {
            var given = string.IsNullOrEmpty(request.ContentType) ? "none" : request.ContentType;
            return (default, Problems.UnsupportedMediaType(
                $"The body must be JSON with Content-Type: application/json; the request had " +
                $"'{given}'."));
        }

        if (request.ContentLength > maxBytes)
        {
            return (default, Problems.TooLarge(maxBytes));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return (default, Problems.TooLarge(maxBytes));
            }

            buffer.Write(chunk, 0, read);
        }

        var bytes = buffer.ToArray();
        // JSON parsing accepts invalid UTF-8 inside strings and fails only when a value is read,
        // so the whole body is checked first.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return (default, Problems.BadRequest("The body is not valid UTF-8; send JSON in UTF-8."));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, ParseOptions);
        }
        catch (JsonException e)
        {
            return (default, Problems.BadRequest("The body is not valid JSON: " + e.Message));
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (default, Problems.BadRequest(
                    $"The body must be a JSON object, not {Describe(document.RootElement)}."));
            }

            return (document.RootElement.Clone(), null);
        }
    }

    /// <summary>Names a JSON value's kind for error messages.</summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
