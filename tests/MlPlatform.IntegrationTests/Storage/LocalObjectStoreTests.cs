using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Storage;

public sealed class LocalObjectStoreTests(LocalStoreFixture fixture) : ObjectStoreContract, IClassFixture<LocalStoreFixture>
{
    protected override IObjectStore Store => fixture.Store;

    protected override string ExpectedBackend => "local";

    [Fact]
    public async Task Given_local_store_When_download_url_asked_Then_null_because_the_api_streams_instead()
    {
        var key = NewPrefix() + "file.bin";
        await Store.PutAsync(key, new MemoryStream([1, 2, 3]));

        (await Store.GetDownloadUrlAsync(key, TimeSpan.FromMinutes(5))).ShouldBeNull();
    }

    [Fact]
    public void Given_key_When_uri_asked_Then_file_uri_under_the_root()
    {
        var uri = Store.UriOf("a/b.bin");

        uri.IsFile.ShouldBeTrue();
        uri.LocalPath.ShouldBe(Path.Combine(fixture.Root, "a", "b.bin"));
    }

    protected override void AssertNothingEscaped()
    {
        Directory.EnumerateFiles(fixture.Parent, "*", SearchOption.AllDirectories)
            .Where(f => !f.StartsWith(fixture.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .ShouldBeEmpty();
    }
}
