using DuckDB.NET.Data;
using MlPlatform.DataPipelines.Training;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.DataPipelines.Training.Local;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.UnitTests.Training;

/// <summary><c>model.train</c> data in Parquet, written by DuckDB in the test from the same rows as the CSV tests use.</summary>
public sealed class ParquetTrainingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mlp-parquet-tests-" + Guid.NewGuid().ToString("N"));
    private readonly LocalObjectStore _store;

    public ParquetTrainingTests()
    {
        Directory.CreateDirectory(_root);
        _store = new LocalObjectStore(Path.Combine(_root, "store"));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>The CSV converted by DuckDB (<c>COPY … TO … (FORMAT parquet)</c>) and put in the store under <paramref name="key"/>.</summary>
    private async Task<string> PutParquetAsync(string key, string csv, string select = "*")
    {
        var csvPath = Path.Combine(_root, Guid.NewGuid().ToString("N") + ".csv");
        var parquetPath = Path.ChangeExtension(csvPath, ".parquet");
        await File.WriteAllTextAsync(csvPath, csv);
        using (var connection = new DuckDBConnection("DataSource=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"COPY (SELECT {select} FROM read_csv('{csvPath}', header=true)) TO '{parquetPath}' (FORMAT parquet)";
            command.ExecuteNonQuery();
        }

        await using var content = File.OpenRead(parquetPath);
        await _store.PutAsync(key, content);
        return key;
    }

    [Theory]
    [InlineData("binary")]
    [InlineData("multiclass")]
    [InlineData("regression")]
    public async Task Given_the_same_rows_in_Parquet_and_CSV_When_trained_Then_the_models_and_metrics_are_identical(string task)
    {
        var csv = SampleData.Csv();
        var key = await PutParquetAsync("data/sample.parquet", csv);
        var (label, features) = SampleData.For(task);
        var kind = TrainStep.ParseTask(task)!.Value;

        var parquet = await TabularData.ReadAsync(_store, key, long.MaxValue, CancellationToken.None);
        var text = TabularData.ParseCsv("sample.csv", csv);

        parquet.Columns.ShouldBe(text.Columns);
        parquet.Kinds.ShouldBe(text.Kinds);
        parquet.Rows.Count.ShouldBe(300);
        var fromParquet = LocalTrainingBackend.Train(parquet, label, kind, TrainerCatalog.LightGbm, features, [], 5, key, CancellationToken.None);
        var fromCsv = LocalTrainingBackend.Train(text, label, kind, TrainerCatalog.LightGbm, features, [], 5, "sample.csv", CancellationToken.None);
        fromParquet.Metrics.ShouldBe(fromCsv.Metrics);
        fromParquet.Onnx.ShouldBe(fromCsv.Onnx);
    }

    [Fact]
    public async Task Given_Parquet_with_nulls_booleans_and_integers_When_read_Then_cells_are_the_text_a_CSV_would_hold()
    {
        var key = await PutParquetAsync("data/typed.parquet", "n,flag,count,name\n1.5,true,3,a\n,false,,b\n", select: "n::DOUBLE AS n, flag::BOOLEAN AS flag, count::BIGINT AS count, name");

        var data = await TabularData.ReadAsync(_store, key, long.MaxValue, CancellationToken.None);

        data.Columns.ShouldBe(["n", "flag", "count", "name"]);
        data.Rows[0].ShouldBe(["1.5", "true", "3", "a"]);
        data.Rows[1].ShouldBe([null, "false", null, "b"]);
        data.Kinds.ShouldBe([ColumnKind.Numeric, ColumnKind.Text, ColumnKind.Numeric, ColumnKind.Text]);
    }

    [Fact]
    public async Task Given_a_file_named_parquet_that_is_CSV_When_read_Then_a_non_retryable_error_says_it_is_not_Parquet()
    {
        await using (var content = new MemoryStream("a,b\n1,2\n3,4\n5,6\n"u8.ToArray()))
        {
            await _store.PutAsync("data/fake.parquet", content);
        }

        var ex = await Should.ThrowAsync<StepFailedException>(() => TabularData.ReadAsync(_store, "data/fake.parquet", long.MaxValue, CancellationToken.None));
        ex.Retryable.ShouldBeFalse();
        ex.Message.ShouldContain("not a Parquet file");
    }

    [Fact]
    public async Task Given_Parquet_with_a_list_column_When_read_Then_the_error_names_the_column_and_its_type()
    {
        var key = await PutParquetAsync("data/nested.parquet", "a,b\n1,2\n", select: "a, [a, b] AS pair");

        var ex = await Should.ThrowAsync<StepFailedException>(() => TabularData.ReadAsync(_store, key, long.MaxValue, CancellationToken.None));
        ex.Message.ShouldContain("'pair'");
        ex.Message.ShouldContain("[]");
    }
}
