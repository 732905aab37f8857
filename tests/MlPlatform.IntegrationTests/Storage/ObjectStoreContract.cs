using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Storage;

/// <summary>
/// What every artifact store backend must do; each backend's test class inherits these tests.
/// Tests share the class's store, so each one works under its own key prefix.
/// </summary>
public abstract class ObjectStoreContract
{
    private const int MiB = 1024 * 1024;

    protected abstract IObjectStore Store { get; }

    protected abstract string ExpectedBackend { get; }

    /// <summary>A folder of keys no other test touches.</summary>
    protected static string NewPrefix() => "t-" + Guid.NewGuid().ToString("N")[..12] + "/";

    [Fact]
    public async Task Given_multi_megabyte_object_from_non_seekable_stream_When_put_Then_reads_back_identical_with_sha256()
    {
        // Not a multiple of the 5 MiB part size: two full parts and a short last one on S3.
        var data = TestData.Random((12 * MiB) + 12345);
        var key = NewPrefix() + "models/model.onnx";
        var source = new NonSeekableStream(data);

        var stored = await Store.PutAsync(key, source, "application/octet-stream");

        stored.Key.ShouldBe(key);
        stored.Size.ShouldBe(data.Length);
        stored.Sha256.ShouldBe(Convert.ToHexStringLower(SHA256.HashData(data)));
        stored.Uri.ShouldBe(Store.UriOf(key));
        source.BytesRead.ShouldBe(data.Length);
        (await ReadAllAsync(key)).ShouldBe(data);
        (await Store.GetInfoAsync(key))!.Size.ShouldBe(data.Length);
    }

    [Fact]
    public async Task Given_object_of_exactly_one_part_size_When_put_Then_reads_back_identical()
    {
        var data = TestData.Random(5 * MiB, seed: 7);
        var key = NewPrefix() + "exact.bin";

        var stored = await Store.PutAsync(key, new NonSeekableStream(data));

        stored.Size.ShouldBe(data.Length);
        stored.Sha256.ShouldBe(Convert.ToHexStringLower(SHA256.HashData(data)));
        (await ReadAllAsync(key)).ShouldBe(data);
    }

    [Fact]
    public async Task Given_small_object_When_put_Then_reads_back_identical_with_size_and_sha256()
    {
        var data = Encoding.UTF8.GetBytes("{\"accuracy\": 0.93}");
        var key = NewPrefix() + "metrics.json";

        var stored = await Store.PutAsync(key, new MemoryStream(data), "application/json");

        stored.Size.ShouldBe(data.Length);
        stored.Sha256.ShouldBe(Convert.ToHexStringLower(SHA256.HashData(data)));
        (await ReadAllAsync(key)).ShouldBe(data);
    }

    [Fact]
    public async Task Given_empty_stream_When_put_Then_empty_object_is_stored()
    {
        var key = NewPrefix() + "empty";

        var stored = await Store.PutAsync(key, new MemoryStream());

        stored.Size.ShouldBe(0);
        stored.Sha256.ShouldBe(Convert.ToHexStringLower(SHA256.HashData(ReadOnlySpan<byte>.Empty)));
        (await ReadAllAsync(key)).ShouldBeEmpty();
        (await Store.ExistsAsync(key)).ShouldBeTrue();
    }

    [Fact]
    public async Task Given_existing_object_When_put_again_Then_new_content_replaces_it()
    {
        var key = NewPrefix() + "overwrite.txt";
        await Store.PutAsync(key, new MemoryStream(Encoding.UTF8.GetBytes("first version, longer than the second")));

        var second = Encoding.UTF8.GetBytes("second");
        var stored = await Store.PutAsync(key, new MemoryStream(second));

        stored.Size.ShouldBe(second.Length);
        (await ReadAllAsync(key)).ShouldBe(second);
        (await Store.GetInfoAsync(key))!.Size.ShouldBe(second.Length);
    }

    [Fact]
    public async Task Given_stored_and_missing_keys_When_exists_and_info_asked_Then_only_stored_one_is_found()
    {
        var prefix = NewPrefix();
        var key = prefix + "present.bin";
        await Store.PutAsync(key, new MemoryStream(new byte[1234]));

        (await Store.ExistsAsync(key)).ShouldBeTrue();
        var info = await Store.GetInfoAsync(key);
        info.ShouldNotBeNull();
        info.Key.ShouldBe(key);
        info.Size.ShouldBe(1234);
        info.LastModified.ShouldBeInRange(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));

        (await Store.ExistsAsync(prefix + "absent.bin")).ShouldBeFalse();
        (await Store.GetInfoAsync(prefix + "absent.bin")).ShouldBeNull();
    }

    [Fact]
    public async Task Given_keys_in_nested_folders_When_listed_by_prefix_Then_only_matching_keys_come_back_in_key_order()
    {
        var prefix = NewPrefix();
        var other = NewPrefix();
        string[] keys = ["b.txt", "a/2", "a/1", "a/10", "ab", "c/d/e.bin", "a/3/x"];
        foreach (var key in keys)
        {
            await Store.PutAsync(prefix + key, new MemoryStream(Encoding.UTF8.GetBytes(key)));
        }

        await Store.PutAsync(other + "a/1", new MemoryStream([1]));

        var all = await ListKeysAsync(prefix);
        all.ShouldBe(keys.Select(k => prefix + k).Order(StringComparer.Ordinal).ToList());

        var folder = await ListKeysAsync(prefix + "a/");
        folder.ShouldBe(new[] { "a/1", "a/10", "a/2", "a/3/x" }.Select(k => prefix + k).ToList());

        var startsWith = await ListKeysAsync(prefix + "a");
        startsWith.ShouldBe(new[] { "a/1", "a/10", "a/2", "a/3/x", "ab" }.Select(k => prefix + k).ToList());

        (await ListKeysAsync(prefix + "nothing/")).ShouldBeEmpty();

        var infos = new List<ObjectInfo>();
        await foreach (var info in Store.ListAsync(prefix + "c/"))
        {
            infos.Add(info);
        }

        infos.ShouldHaveSingleItem().Size.ShouldBe("c/d/e.bin".Length);
    }

    [Fact]
    public async Task Given_stored_object_When_deleted_twice_Then_first_true_then_false_and_gone()
    {
        var key = NewPrefix() + "delete-me";
        await Store.PutAsync(key, new MemoryStream([1, 2, 3]));

        (await Store.DeleteAsync(key)).ShouldBeTrue();
        (await Store.DeleteAsync(key)).ShouldBeFalse();
        (await Store.ExistsAsync(key)).ShouldBeFalse();
    }

    [Fact]
    public async Task Given_missing_key_When_opened_Then_object_not_found_is_thrown()
    {
        var key = NewPrefix() + "never-written";

        var ex = await Should.ThrowAsync<ObjectNotFoundException>(() => Store.OpenReadAsync(key));

        ex.Key.ShouldBe(key);
    }

    [Fact]
    public async Task Given_source_that_breaks_off_after_a_part_When_put_Then_error_surfaces_and_no_object_is_left()
    {
        var key = NewPrefix() + "broken.bin";
        var source = new NonSeekableStream(TestData.Random(12 * MiB), failAfterBytes: 7 * MiB);

        await Should.ThrowAsync<IOException>(() => Store.PutAsync(key, source));

        (await Store.ExistsAsync(key)).ShouldBeFalse();
        (await ListKeysAsync(key)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Given_cancelled_token_during_put_When_put_Then_cancelled_and_no_object_is_left()
    {
        var key = NewPrefix() + "cancelled.bin";
        using var cancellation = new CancellationTokenSource();
        var source = new CancelAfterStream(TestData.Random(12 * MiB), cancelAfterBytes: 6 * MiB, cancellation);

        await Should.ThrowAsync<OperationCanceledException>(() => Store.PutAsync(key, source, cancellationToken: cancellation.Token));

        (await Store.ExistsAsync(key)).ShouldBeFalse();
    }

    /// <summary>Unsafe keys by name, so test names and result files stay free of control characters.</summary>
    private static readonly Dictionary<string, string> UnsafeKeys = new()
    {
        ["parent_segment"] = "../escape.txt",
        ["nested_parent_segments"] = "a/../../escape.txt",
        ["trailing_parent_segment"] = "a/..",
        ["dot_segment"] = "./a",
        ["leading_slash"] = "/absolute.txt",
        ["backslash"] = "a\\b.txt",
        ["backslash_parent"] = "..\\escape.txt",
        ["empty_segment"] = "a//b",
        ["trailing_slash"] = "a/",
        ["empty"] = "",
        ["nul_character"] = "a\u0000b",
        ["newline"] = "a\nb",
        ["delete_character"] = "a\u007fb",
        ["too_long"] = new string('k', ObjectKey.MaxLength + 1),
    };

    public static TheoryData<string> UnsafeKeyNames => new(UnsafeKeys.Keys);

    [Theory]
    [MemberData(nameof(UnsafeKeyNames))]
    public async Task Given_unsafe_key_When_any_operation_uses_it_Then_invalid_key_is_thrown_and_nothing_is_written(string keyName)
    {
        var key = UnsafeKeys[keyName];
        var before = await ListKeysAsync(string.Empty);
        var source = new MemoryStream([1, 2, 3]);

        await Should.ThrowAsync<InvalidObjectKeyException>(() => Store.PutAsync(key, source));
        await Should.ThrowAsync<InvalidObjectKeyException>(() => Store.OpenReadAsync(key));
        await Should.ThrowAsync<InvalidObjectKeyException>(() => Store.GetInfoAsync(key));
        await Should.ThrowAsync<InvalidObjectKeyException>(() => Store.ExistsAsync(key));
        await Should.ThrowAsync<InvalidObjectKeyException>(() => Store.DeleteAsync(key));
        await Should.ThrowAsync<InvalidObjectKeyException>(() => Store.GetDownloadUrlAsync(key, TimeSpan.FromMinutes(1)));
        Should.Throw<InvalidObjectKeyException>(() => Store.UriOf(key));

        source.Position.ShouldBe(0, "the content must not be read for a rejected key");
        var after = await ListKeysAsync(string.Empty);
        after.ShouldBe(before);
        AssertNothingEscaped();
    }

    [Fact]
    public async Task Given_reachable_store_When_health_checked_Then_healthy_with_backend_name()
    {
        var result = await new ObjectStoreHealthCheck(Store).CheckHealthAsync(new HealthCheckContext());

        result.Status.ShouldBe(HealthStatus.Healthy);
        result.Description.ShouldBe(ExpectedBackend);
    }

    /// <summary>Backend-specific check that an escaping key left nothing outside the store.</summary>
    protected virtual void AssertNothingEscaped()
    {
    }

    protected async Task<byte[]> ReadAllAsync(string key)
    {
        await using var stream = await Store.OpenReadAsync(key);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    protected async Task<List<string>> ListKeysAsync(string prefix)
    {
        var keys = new List<string>();
        await foreach (var info in Store.ListAsync(prefix))
        {
            keys.Add(info.Key);
        }

        return keys;
    }

    /// <summary>Cancels the caller's token once the store has read some bytes, as a client hanging up would.</summary>
    private sealed class CancelAfterStream(byte[] data, int cancelAfterBytes, CancellationTokenSource cancellation) : Stream
    {
        private readonly NonSeekableStream _inner = new(data);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_inner.BytesRead >= cancelAfterBytes)
            {
                cancellation.Cancel();
            }

            return _inner.Read(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = Read(buffer.Span);
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
