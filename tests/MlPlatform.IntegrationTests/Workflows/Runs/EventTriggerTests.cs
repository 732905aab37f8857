using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Contracts;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Trigger rules: a DatasetVersionCreated published through another module's outbox starts a run with parameters from the event.</summary>
public sealed class EventTriggerTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    /// <summary>Publishes the event from the Monitoring module's outbox, as DataPipelines would from its own.</summary>
    private static async Task Publish(WorkflowTestAccounts api, IIntegrationEvent integrationEvent, bool fromWorkflowsOutbox = false)
    {
        using var scope = api.Factory.Services.CreateScope();
        ModuleDbContext db = fromWorkflowsOutbox
            ? scope.ServiceProvider.GetRequiredService<MlPlatform.Workflows.Persistence.WorkflowsDbContext>()
            : scope.ServiceProvider.GetRequiredService<MonitoringDbContext>();
        db.AddIntegrationEvent((DatasetVersionCreated)integrationEvent, TimeProvider.System);
        await db.SaveChangesAsync();
    }

    private static DatasetVersionCreated Created(Guid projectId, string project, string dataset, int version, Guid? eventId = null) =>
        new(eventId ?? Guid.NewGuid(), DateTimeOffset.UtcNow, projectId, project, Guid.NewGuid(), dataset, version, new string('a', 64), $"datasets/{dataset}/{version}.csv", 100, null);

    private static async Task<List<JsonElement>> EventRuns(WorkflowTestAccounts api, string workflow)
    {
        var page = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={workflow}&trigger=event");
        return page.GetProperty("items").EnumerateArray().ToList();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_trigger_rule_When_a_matching_event_arrives_Then_one_run_starts_with_mapped_parameters_and_others_start_nothing(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var project = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}");
        var projectId = project.GetProperty("id").GetGuid();
        var other = await api.Outsider.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.OtherProject}");
        var name = NewName("ontrigger");
        var dataset = NewName("churn");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            parameters = new { version = new { type = "int" }, dataset = new { type = "string" }, note = new { type = "string", @default = "" } },
            triggers = new object[]
            {
                new
                {
                    @event = "DatasetVersionCreated",
                    where = new Dictionary<string, object> { ["dataset"] = dataset },
                    parameters = new { version = "${event.version}", dataset = "${event.dataset}", note = "v${event.version} of ${event.dataset}" },
                },
            },
            steps = new object[] { new { id = "train", type = "noop", @params = new { outputs = new { v = "${params.version}", note = "${params.note}" } } } },
        });

        var eventId = Guid.NewGuid();
        await Publish(api, Created(projectId, api.Project, dataset, 7, eventId));
        // The same event delivered again (at least once; here through a second outbox): no second run.
        await Publish(api, Created(projectId, api.Project, dataset, 7, eventId), fromWorkflowsOutbox: true);
        await Publish(api, Created(projectId, api.Project, "another-dataset", 8));
        await Publish(api, Created(other.GetProperty("id").GetGuid(), api.OtherProject, dataset, 9));

        var clock = Stopwatch.StartNew();
        List<JsonElement> runs;
        while ((runs = await EventRuns(api, name)).Count == 0 && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(100);
        }

        runs.Count.ShouldBe(1);
        var run = await WaitFor(api.Viewer, api.Project, runs[0].GetProperty("id").GetGuid());
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        run.GetProperty("trigger").GetString().ShouldBe("event");
        run.GetProperty("parameters").GetProperty("version").GetInt32().ShouldBe(7);
        Step(run, "train").GetProperty("outputs").GetProperty("note").GetString().ShouldBe($"v7 of {dataset}");

        // The other events are delivered too (the outbox is ordered per module); still one run.
        await Task.Delay(3_000);
        (await EventRuns(api, name)).Count.ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_trigger_rules_When_submitted_Then_422_names_each_error_and_nothing_is_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("badtrigger");
        var definition = new
        {
            name,
            parameters = new { version = new { type = "int" } },
            triggers = new object[]
            {
                new { @event = "NoSuchEvent", parameters = new { version = 1 } },
                new { @event = "DatasetVersionCreated", parameters = new { colour = "${event.dataset}" } },
                new { @event = "DatasetVersionCreated", where = new { dataset = new[] { 1 } }, parameters = new { version = "${params.x}" } },
            },
            steps = new object[] { new { id = "a", type = "noop" } },
        };
        var response = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows",
            new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));
        var body = await Expect(response, HttpStatusCode.UnprocessableEntity);
        var paths = body.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("path").GetString()).ToList();
        paths.ShouldContain("triggers[0].event");
        paths.ShouldContain("triggers[1].parameters.colour");
        paths.ShouldContain("triggers[1].parameters");
        paths.ShouldContain("triggers[2].where.dataset");
        paths.ShouldContain("triggers[2].parameters.version");
        (await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
