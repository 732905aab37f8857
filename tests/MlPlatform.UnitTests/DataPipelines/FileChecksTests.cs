using System.Text;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UnitTests.DataPipelines;

public sealed class FileChecksTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mlp-filechecks-").FullName;

    private string Write(byte[] bytes)
    {
        var path = Path.Combine(_folder, Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Write(string text) => Write(Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData("a,b\n1,2\n")]
    [InlineData("a,b\r\n1,2\r\n3,4")]
    [InlineData("a,\"b, c\"\n\"x\ny\",\"he said \"\"hi\"\"\"\n")]
    [InlineData("only\n1\n\n2\n")]
    public void Given_well_formed_CSV_When_checked_Then_accepted(string csv) =>
        Should.NotThrow(() => FileChecks.Check(Write(csv), DataFormats.Csv));

    [Theory]
    [InlineData("a,b,c\n1,2,3\n4,5\n", "Line 3")]
    [InlineData("a,b\n1,2\n3,4,5\n", "Line 3")]
    [InlineData("a,b\n\"1\n2\",3\n4\n", "Line 4")]
    [InlineData("a,b\n1,2\n\n3,4\n", "Line 3")]
    [InlineData("a,b\n\"open,2\n", "not closed")]
    [InlineData("a,a\n1,2\n", "appears twice")]
    [InlineData("a,\n1,2\n", "no name")]
    [InlineData("a,b\n\"x\"y,2\n", "closing quote")]
    public void Given_malformed_CSV_When_checked_Then_422_naming_the_line_or_column(string csv, string expected)
    {
        var error = Should.Throw<UnprocessableException>(() => FileChecks.Check(Write(csv), DataFormats.Csv));
        error.Message.ShouldContain(expected);
    }

    [Fact]
    public void Given_invalid_UTF8_on_a_later_line_When_checked_Then_422_with_that_line()
    {
        byte[] bytes = [.. "a,b\n1,2\n3,"u8, 0xC3, 0x28, (byte)'\n'];
        Should.Throw<UnprocessableException>(() => FileChecks.Check(Write(bytes), DataFormats.Csv)).Message.ShouldContain("Line 3");
    }

    [Fact]
    public void Given_empty_or_fake_files_When_checked_Then_400_for_empty_and_422_for_wrong_format()
    {
        Should.Throw<BadRequestException>(() => FileChecks.Check(Write([]), DataFormats.Csv));
        Should.Throw<UnprocessableException>(() => FileChecks.Check(Write("a,b\n"), DataFormats.Csv)).Message.ShouldContain("no rows");
        Should.Throw<UnprocessableException>(() => FileChecks.Check(Write("a,b\n1,2\n3,4\n5,6\n"), DataFormats.Parquet)).Message.ShouldContain("PAR1");
    }

    [Theory]
    [InlineData(DataFormats.Csv)]
    [InlineData(DataFormats.JsonLines)]
    public void Given_a_cancelled_token_When_checked_Then_it_stops_instead_of_reading_the_file(string format)
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Should.Throw<OperationCanceledException>(() => FileChecks.Check(Write("a,b\n1,2\n"), format, cancelled.Token));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
