using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.UnitTests.Storage;

public sealed class ProjectAreasTests
{
    private static readonly Guid Project = Guid.Parse("0d1e2f30-4a5b-6c7d-8e9f-a0b1c2d3e4f5");
    private static readonly Guid Other = Guid.Parse("11111111-2222-3333-4444-555555555555");
    private static readonly Guid Run = Guid.Parse("99999999-8888-7777-6666-555555555555");

    [Theory]
    [InlineData("projects/demo/scores.csv")]
    [InlineData("projects/0d1e2f304a5b6c7d8e9fa0b1c2d3e4f5/scores.csv")]
    [InlineData("datasets/0d1e2f304a5b6c7d8e9fa0b1c2d3e4f5/v1.csv")]
    [InlineData("models/0d1e2f304a5b6c7d8e9fa0b1c2d3e4f5/m/v/model.onnx")]
    [InlineData("predictions/0d1e2f304a5b6c7d8e9fa0b1c2d3e4f5/ep/job.csv")]
    public void Given_a_key_in_the_projects_areas_Then_it_is_readable(string key) =>
        new ProjectAreas(Project, "demo").CanRead(key).ShouldBeTrue();

    [Theory]
    [InlineData("projects/other/scores.csv")]
    [InlineData("projects/demo-2/scores.csv")]
    [InlineData("projects/11111111222233334444555555555555/scores.csv")]
    [InlineData("datasets/11111111222233334444555555555555/v1.csv")]
    [InlineData("models/11111111222233334444555555555555/m/v/model.onnx")]
    [InlineData("runs/99999999-8888-7777-6666-555555555555/train/model.onnx")]
    [InlineData("predictions/ep/job.csv")]
    [InlineData("projects/demo")]
    public void Given_a_key_of_another_project_or_outside_any_area_Then_it_is_not_readable(string key) =>
        new ProjectAreas(Project, "demo").CanRead(key).ShouldBeFalse();

    [Fact]
    public void Given_a_step_Then_its_runs_folder_is_readable_and_writable_in_both_spellings_and_another_runs_is_not()
    {
        var areas = new ProjectAreas(Project, "demo", Run);

        areas.CanRead($"runs/{Run}/train/model.onnx").ShouldBeTrue();
        areas.CanWrite($"runs/{Run:N}/score/out.csv").ShouldBeTrue();
        areas.CanRead($"runs/{Other}/train/model.onnx").ShouldBeFalse();
    }

    [Fact]
    public void Given_the_registered_records_Then_dataset_versions_and_model_files_are_read_only()
    {
        var areas = new ProjectAreas(Project, null);

        areas.CanWrite($"datasets/{Project:N}/v1.csv").ShouldBeFalse();
        areas.CanWrite($"models/{Project:N}/m/v/model.onnx").ShouldBeFalse();
        areas.CanWrite($"predictions/{Project:N}/ep/job.csv").ShouldBeTrue();
        // Without the name (a host that could not look it up) only the id spelling is the project's.
        areas.CanRead("projects/demo/scores.csv").ShouldBeFalse();
        areas.CanRead($"projects/{Project:N}/scores.csv").ShouldBeTrue();
    }

    [Fact]
    public void Given_a_project_named_like_another_projects_id_Then_its_name_claims_no_area()
    {
        var impostor = new ProjectAreas(Guid.NewGuid(), Project.ToString("N"));

        impostor.CanRead($"projects/{Project:N}/scores.csv").ShouldBeFalse();
    }
}
