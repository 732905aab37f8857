using System.Globalization;
using Microsoft.Extensions.Configuration;
using MlPlatform.DataPipelines;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.UnitTests.DataPipelines;

/// <summary>DuckDB's memory limit and spill folder come from <c>DataPipelines:Engine</c>, so a file larger than the limit still loads.</summary>
public sealed class EngineSettingsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mlp-engine-tests-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static DataPipelinesSettings Read(Dictionary<string, string?> values) =>
        DataPipelinesSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

    [Fact]
    public void Given_no_engine_settings_When_read_Then_the_documented_defaults_apply()
    {
        var settings = Read(new() { ["DataPipelines:WorkDirectory"] = _root });

        settings.Engine.MemoryLimit.ShouldBe("2GB");
        settings.Engine.TempDirectory.ShouldBeNull();
        settings.Engine.MaxTempDirectorySize.ShouldBeNull();
        settings.Engine.Threads.ShouldBe(0);
        settings.CacheMaxBytes.ShouldBe(10L << 30);
    }

    [Theory]
    [InlineData("DataPipelines:Engine:MemoryLimit", "lots")]
    [InlineData("DataPipelines:Engine:MaxTempDirectorySize", "-1GB")]
    [InlineData("DataPipelines:Engine:Threads", "-2")]
    [InlineData("DataPipelines:Cache:MaxBytes", "0")]
    public void Given_a_malformed_setting_When_read_Then_start_up_fails_naming_it(string key, string value)
    {
        var ex = Should.Throw<InvalidConfigurationException>(() => Read(new() { ["DataPipelines:WorkDirectory"] = _root, [key] = value }));
        ex.Message.ShouldContain(key);
    }

    [Fact]
    public void Given_a_memory_limit_below_the_data_When_a_file_is_loaded_Then_DuckDB_spills_to_the_configured_folder_and_the_load_succeeds()
    {
        var spill = Path.Combine(_root, "spill");
        var engine = Read(new()
        {
            ["DataPipelines:WorkDirectory"] = _root,
            ["DataPipelines:Engine:MemoryLimit"] = "100MB",
            ["DataPipelines:Engine:TempDirectory"] = spill,
            ["DataPipelines:Engine:MaxTempDirectorySize"] = "2GB",
            ["DataPipelines:Engine:Threads"] = "1",
        }).Engine;
        using var session = DataSession.Open(_root, engine);
        // About 200 MB of CSV: well past the 100 MB the engine may hold in memory.
        var csv = session.PathFor("big.csv");
        session.Execute($"COPY (SELECT range AS id, random() AS a, md5(range::VARCHAR) AS s, md5((range * 7)::VARCHAR) AS t FROM range(2000000)) TO {DataSession.Literal(csv)} (HEADER)");

        new FileInfo(csv).Length.ShouldBeGreaterThan(150_000_000);

        session.Load("big", csv, DataFormats.Csv);

        session.Count("big").ShouldBe(2_000_000);
        Convert.ToInt64(session.Scalar("SELECT count(DISTINCT s) FROM big"), CultureInfo.InvariantCulture).ShouldBe(2_000_000);
        session.Scalar("SELECT current_setting('memory_limit')")!.ToString()!.ShouldStartWith("95.3 MiB");
        session.Scalar("SELECT current_setting('threads')")!.ToString().ShouldBe("1");
        var temp = session.Scalar("SELECT current_setting('temp_directory')")!.ToString()!;
        temp.ShouldStartWith(spill);
        session.SpillDir.ShouldStartWith(spill);
        Directory.Exists(session.SpillDir).ShouldBeTrue();

        // The configuration is locked, so no expression can lift the limit afterwards.
        Should.Throw<Exception>(() => session.Execute("SET memory_limit='8GB'"));
    }

    [Fact]
    public void Given_a_session_When_disposed_Then_its_spill_folder_goes_with_it()
    {
        var engine = new EngineSettings { TempDirectory = Path.Combine(_root, "spill") };
        Directory.CreateDirectory(engine.TempDirectory);
        string folder;
        using (var session = DataSession.Open(_root, engine))
        {
            folder = session.SpillDir;
            Directory.Exists(folder).ShouldBeTrue();
        }

        Directory.Exists(folder).ShouldBeFalse();
    }
}
