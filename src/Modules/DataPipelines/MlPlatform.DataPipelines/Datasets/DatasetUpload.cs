using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Uploads;

namespace MlPlatform.DataPipelines.Datasets;

/// <summary>What an upload said about itself: the file name and content type it was sent with.</summary>
public sealed record UploadInfo(long Size, string? FileName, string? ContentType);

/// <summary>
/// Streams an uploaded dataset (a raw body, or the multipart field <c>file</c>) to a local file,
/// refusing it with 413 as soon as it passes the limit; memory stays flat whatever the size.
/// </summary>
public static class DatasetUpload
{
    public static async Task<UploadInfo> ReadAsync(HttpRequest request, string path, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            throw new PayloadTooLargeException(maxBytes);
        }

        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType))
        {
            throw new UnsupportedMediaTypeException("Send the dataset as multipart/form-data (field 'file') or as the raw body (text/csv, application/x-ndjson, application/vnd.apache.parquet or application/octet-stream).");
        }

        var media = contentType.MediaType.Value ?? string.Empty;
        if (!media.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            var size = await UploadSpool.ToFileAsync(request.Body, path, maxBytes, cancellationToken);
            return new UploadInfo(size, null, media);
        }

        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new BadRequestException("The multipart/form-data body has no boundary.");
        }

        var reader = new MultipartReader(boundary, request.Body);
        UploadInfo? info = null;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    || !string.Equals(HeaderUtilities.RemoveQuotes(disposition.Name).Value, "file", StringComparison.Ordinal))
                {
                    continue;
                }

                if (info is not null)
                {
                    throw new BadRequestException("Send one 'file' field.");
                }

                var size = await UploadSpool.ToFileAsync(section.Body, path, maxBytes, cancellationToken);
                info = new UploadInfo(size, HeaderUtilities.RemoveQuotes(disposition.FileName).Value, section.ContentType);
            }
        }
        catch (InvalidDataException ex)
        {
            throw new BadRequestException($"The multipart/form-data body is malformed: {ex.Message}");
        }

        return info ?? throw new BadRequestException("The form has no 'file' field with the dataset.");
    }
}
