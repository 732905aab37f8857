using System.Text.Json.Nodes;
using Cronos;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.Definitions;

/// <summary>
/// The checks that need the whole definition: unique step ids, known step types and their params,
/// dependencies that exist and form no cycle, templates that refer to declared parameters and to
/// steps upstream of the step using them, <c>when</c> syntax, cron and time zone. Every problem is
/// reported with its path; nothing stops at the first.
/// </summary>
internal sealed class DefinitionValidator(IStepTypeRegistry registry)
{
    public void Validate(WorkflowDefinition definition, List<DefinitionError> errors)
    {
        var steps = definition.Steps;
        var indexById = IndexSteps(steps, errors);
        CheckStepTypes(steps, errors);
        var dependencies = ResolveDependencies(steps, indexById, errors);
        ReportCycles(steps, dependencies, errors);
        CheckTemplates(definition, indexById, dependencies, errors);
        CheckSchedule(definition, errors);
    }

    private static Dictionary<string, int> IndexSteps(IReadOnlyList<StepDefinition> steps, List<DefinitionError> errors)
    {
        var indexById = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < steps.Count; i++)
        {
            var id = steps[i].Id;
            if (id.Length == 0)
            {
                continue;
            }

            if (!indexById.TryAdd(id, i))
            {
                errors.Add(new DefinitionError($"steps[{i}].id", $"Duplicate step id '{id}': steps[{indexById[id]}] has it too."));
            }
        }

        return indexById;
    }

    private void CheckStepTypes(IReadOnlyList<StepDefinition> steps, List<DefinitionError> errors)
    {
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            if (step.Type.Length == 0)
            {
                continue;
            }

            var type = registry.Find(step.Type);
            if (type is null)
            {
                var names = registry.All.Select(t => t.Name).ToList();
                var suggestion = Suggest(step.Type, names);
                errors.Add(new DefinitionError($"steps[{i}].type", suggestion is null
                    ? $"Unknown step type '{step.Type}'; registered types: {string.Join(", ", names)}."
                    : $"Unknown step type '{step.Type}'; did you mean '{suggestion}'?"));
                continue;
            }

            foreach (var error in type.Validate(step.Params))
            {
                errors.Add(new DefinitionError(DefinitionPaths.Append($"steps[{i}].params", error.Path), error.Message));
            }
        }
    }

    /// <summary>For each step, the indices of the steps it depends on (known, distinct, not itself).</summary>
    private static List<int>[] ResolveDependencies(IReadOnlyList<StepDefinition> steps, Dictionary<string, int> indexById, List<DefinitionError> errors)
    {
        var dependencies = new List<int>[steps.Count];
        // "Did you mean" compares an unknown id with every step id: with thousands of both that was
        // quadratic (40,000 unknown ids × 20,000 steps took half a minute). Past this many comparisons
        // the errors come without a suggestion.
        var suggestionBudget = MaxSuggestionComparisons;
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var resolved = new List<int>(step.DependsOn.Count);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var j = 0; j < step.DependsOn.Count; j++)
            {
                var dependency = step.DependsOn[j];
                var path = $"steps[{i}].dependsOn[{j}]";
                if (dependency.Length == 0)
                {
                    continue;
                }

                if (!seen.Add(dependency))
                {
                    errors.Add(new DefinitionError(path, $"'{dependency}' is listed twice."));
                }
                else if (!indexById.TryGetValue(dependency, out var index))
                {
                    string? suggestion = null;
                    if (suggestionBudget >= indexById.Count)
                    {
                        suggestionBudget -= indexById.Count;
                        suggestion = Suggest(dependency, indexById.Keys);
                    }

                    errors.Add(new DefinitionError(path, suggestion is null
                        ? $"Unknown step '{dependency}': no step has this id."
                        : $"Unknown step '{dependency}': no step has this id; did you mean '{suggestion}'?"));
                }
                else if (dependency == step.Id)
                {
                    errors.Add(new DefinitionError(path, $"The steps form a cycle: {dependency} → {dependency} (a step cannot depend on itself)."));
                }
                else
                {
                    resolved.Add(index);
                }
            }

            dependencies[i] = resolved;
        }

        return dependencies;
    }

    /// <summary>
    /// Names one cycle per strongly connected component (Tarjan's algorithm, iterative so a long
    /// chain cannot overflow the stack), in run order: <c>a → b → c → a</c> means b waits for a.
    /// </summary>
    private static void ReportCycles(IReadOnlyList<StepDefinition> steps, List<int>[] dependencies, List<DefinitionError> errors)
    {
        foreach (var component in StronglyConnectedComponents(dependencies).Where(c => c.Count > 1))
        {
            var members = component.ToHashSet();
            var start = component.Min();
            var cycle = ShortestCycle(start, dependencies, members);

            // cycle is in dependency order (start depends on cycle[1], ...); run order is the reverse.
            var runOrder = Enumerable.Reverse(cycle).Select(i => steps[i].Id).ToList();
            runOrder.Add(runOrder[0]);
            var dependsOnIndex = steps[start].DependsOn.ToList().IndexOf(steps[cycle[1]].Id);
            errors.Add(new DefinitionError(
                $"steps[{start}].dependsOn[{dependsOnIndex}]",
                $"The steps form a cycle: {string.Join(" → ", RotateToStart(runOrder, steps[start].Id))} (each step waits for the one before it)."));
        }
    }

    private static List<string> RotateToStart(List<string> closed, string start)
    {
        var open = closed.Take(closed.Count - 1).ToList();
        var at = open.IndexOf(start);
        var rotated = open.Skip(at).Concat(open.Take(at)).ToList();
        rotated.Add(start);
        return rotated;
    }

    /// <summary>start, d1, d2, ... where each depends on the next and the last depends on start.</summary>
    private static List<int> ShortestCycle(int start, List<int>[] dependencies, HashSet<int> members)
    {
        var previous = new Dictionary<int, int>();
        var queue = new Queue<int>();
        queue.Enqueue(start);
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            foreach (var next in dependencies[node].Where(members.Contains))
            {
                if (next == start)
                {
                    var path = new List<int> { node };
                    while (path[^1] != start)
                    {
                        path.Add(previous[path[^1]]);
                    }

                    path.Reverse();
                    return path;
                }

                if (previous.TryAdd(next, node))
                {
                    queue.Enqueue(next);
                }
            }
        }

        throw new InvalidOperationException("A strongly connected component without a cycle.");
    }

    private static List<List<int>> StronglyConnectedComponents(List<int>[] edges)
    {
        var count = edges.Length;
        var index = new int[count];
        var low = new int[count];
        var onStack = new bool[count];
        Array.Fill(index, -1);
        var stack = new Stack<int>();
        var components = new List<List<int>>();
        var next = 0;
        var calls = new Stack<(int Node, int Edge)>();
        for (var root = 0; root < count; root++)
        {
            if (index[root] >= 0)
            {
                continue;
            }

            Visit(root);
            while (calls.Count > 0)
            {
                var (node, edge) = calls.Pop();
                if (edge < edges[node].Count)
                {
                    calls.Push((node, edge + 1));
                    var target = edges[node][edge];
                    if (index[target] < 0)
                    {
                        Visit(target);
                    }
                    else if (onStack[target])
                    {
                        low[node] = Math.Min(low[node], index[target]);
                    }

                    continue;
                }

                if (low[node] == index[node])
                {
                    var component = new List<int>();
                    int member;
                    do
                    {
                        member = stack.Pop();
                        onStack[member] = false;
                        component.Add(member);
                    }
                    while (member != node);
                    components.Add(component);
                }

                if (calls.Count > 0)
                {
                    var parent = calls.Peek().Node;
                    low[parent] = Math.Min(low[parent], low[node]);
                }
            }
        }

        return components;

        void Visit(int node)
        {
            index[node] = low[node] = next++;
            stack.Push(node);
            onStack[node] = true;
            calls.Push((node, 0));
        }
    }

    private static void CheckTemplates(WorkflowDefinition definition, Dictionary<string, int> indexById, List<int>[] dependencies, List<DefinitionError> errors)
    {
        var parameters = definition.Parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var upstream = new UpstreamIndex(dependencies);
        for (var i = 0; i < definition.Steps.Count; i++)
        {
            var step = definition.Steps[i];
            foreach (var (path, text) in Strings(step.Params, $"steps[{i}].params"))
            {
                if (!Templates.TryParse(text, out var parts, out var syntaxError))
                {
                    errors.Add(new DefinitionError(path, syntaxError!));
                    continue;
                }

                foreach (var reference in parts.Select(p => p.Reference).OfType<TemplateReference>())
                {
                    CheckReference(reference, path, i, step, parameters, indexById, upstream, errors);
                }
            }

            if (step.When is { } when)
            {
                var path = $"steps[{i}].when";
                if (!WhenExpression.TryParse(when, out var expression, out var syntaxError))
                {
                    errors.Add(new DefinitionError(path, syntaxError!));
                    continue;
                }

                foreach (var reference in expression!.References())
                {
                    CheckReference(reference, path, i, step, parameters, indexById, upstream, errors);
                }
            }
        }
    }

    private static void CheckReference(
        TemplateReference reference,
        string path,
        int stepIndex,
        StepDefinition step,
        HashSet<string> parameters,
        Dictionary<string, int> indexById,
        UpstreamIndex upstream,
        List<DefinitionError> errors)
    {
        switch (reference.Kind)
        {
            case TemplateKind.Parameter when !parameters.Contains(reference.Name):
                errors.Add(new DefinitionError(path, $"'{reference.Text}' refers to the parameter '{reference.Name}', which is not declared under parameters."));
                break;
            case TemplateKind.StepOutput when !indexById.TryGetValue(reference.Name, out _):
                errors.Add(new DefinitionError(path, $"'{reference.Text}' refers to the step '{reference.Name}', which does not exist."));
                break;
            case TemplateKind.StepOutput when reference.Name == step.Id:
                errors.Add(new DefinitionError(path, $"'{reference.Text}' refers to the step's own outputs, which do not exist before it finishes."));
                break;
            case TemplateKind.StepOutput when !upstream.IsUpstream(indexById[reference.Name], stepIndex):
                errors.Add(new DefinitionError(path,
                    $"'{reference.Text}' refers to the step '{reference.Name}', which is not upstream of '{step.Id}': add it to dependsOn (directly or through another step)."));
                break;
        }
    }

    /// <summary>Every string value under <paramref name="node"/>, with its path.</summary>
    private static IEnumerable<(string Path, string Text)> Strings(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj)
                {
                    foreach (var item in Strings(value, DefinitionPaths.Member(path, name)))
                    {
                        yield return item;
                    }
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    foreach (var item in Strings(array[i], DefinitionPaths.Index(path, i)))
                    {
                        yield return item;
                    }
                }

                break;
            case JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.String:
                yield return (path, value.GetValue<string>());
                break;
        }
    }

    private static void CheckSchedule(WorkflowDefinition definition, List<DefinitionError> errors)
    {
        if (definition.Schedule is not { } schedule)
        {
            return;
        }

        var cronValid = TryParseCron(schedule.Cron, out var cron, out var cronError);
        if (!cronValid)
        {
            errors.Add(new DefinitionError("schedule.cron", cronError!));
        }

        var zoneValid = TryFindTimeZone(schedule.TimeZone, out var zone);
        if (!zoneValid)
        {
            var canonical = CanonicalTimeZoneId(schedule.TimeZone);
            errors.Add(new DefinitionError("schedule.timeZone", canonical is null
                ? $"Unknown time zone '{schedule.TimeZone}': use an IANA time zone id such as 'UTC', 'Europe/Berlin' or 'America/New_York'."
                : $"Unknown time zone '{schedule.TimeZone}'; did you mean '{canonical}'? (time zone ids are case-sensitive)"));
        }
        else if (!string.Equals(zone!.Id, schedule.TimeZone, StringComparison.Ordinal))
        {
            // The runtime finds 'utc' or 'Europe/berlin' only after the exact id was looked up once
            // (its cache ignores case), so accepting them would make validity depend on the host's past.
            errors.Add(new DefinitionError("schedule.timeZone",
                $"Write the time zone as '{zone.Id}': time zone ids are case-sensitive."));
        }

        if (cronValid && zoneValid && cron!.GetNextOccurrence(CronProbeStart, zone!) is null)
        {
            errors.Add(new DefinitionError("schedule.cron",
                $"'{schedule.Cron}' never fires (no date matches it, e.g. 30 February); the schedule would never start a run."));
        }

        foreach (var parameter in definition.Parameters.Where(p => p.Default is null))
        {
            errors.Add(new DefinitionError(DefinitionPaths.Member("parameters", parameter.Name),
                $"The parameter '{parameter.Name}' needs a default: scheduled runs start without anyone to supply it."));
        }
    }

    /// <summary>5 fields (minute precision), 6 fields (with seconds first), or a macro such as <c>@daily</c>.</summary>
    public static bool TryParseCron(string text, out CronExpression? expression, out string? error)
    {
        expression = null;
        error = null;
        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        var format = fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
        if (!text.TrimStart().StartsWith('@') && fields is not (5 or 6))
        {
            error = $"'{text}' is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), e.g. '0 3 * * *'.";
            return false;
        }

        try
        {
            expression = CronExpression.Parse(text.Trim(), format);
            return true;
        }
        catch (CronFormatException ex)
        {
            error = $"'{text}' is not a valid cron expression: {ex.Message}";
            return false;
        }
    }

    /// <summary>
    /// A fixed instant to ask whether a cron fires at all: an expression that matches a date fires
    /// again within a few years of any instant (29 February every 4), so the answer does not depend on today.
    /// </summary>
    private static readonly DateTimeOffset CronProbeStart = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The id of the system time zone whose id equals <paramref name="id"/> ignoring case, if one does (for a suggestion).</summary>
    private static string? CanonicalTimeZoneId(string id) =>
        string.IsNullOrWhiteSpace(id) || id.Length > 100
            ? null
            : TimeZoneInfo.GetSystemTimeZones().FirstOrDefault(z => z.HasIanaId && string.Equals(z.Id, id, StringComparison.OrdinalIgnoreCase))?.Id;

    /// <summary>IANA ids only ('UTC', 'Europe/Berlin'), so a definition means the same on every host.</summary>
    public static bool TryFindTimeZone(string id, out TimeZoneInfo? zone)
    {
        zone = null;
        if (string.IsNullOrWhiteSpace(id) || id.Length > 100 || !TimeZoneInfo.TryFindSystemTimeZoneById(id, out var found) || !found.HasIanaId)
        {
            return false;
        }

        zone = found;
        return true;
    }

    /// <summary>Edit distances computed for "did you mean" suggestions of unknown dependencies, per definition.</summary>
    private const int MaxSuggestionComparisons = 200_000;

    /// <summary>The closest name within two edits, if any.</summary>
    private static string? Suggest(string given, IEnumerable<string> candidates) =>
        candidates
            .Select(c => (Name: c, Distance: EditDistance(given, c)))
            .Where(c => c.Distance <= Math.Min(2, Math.Max(1, given.Length / 3)))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => c.Name)
            .FirstOrDefault();

    /// <summary>Edits between two names, a swap of neighbours counting as one (optimal string alignment).</summary>
    private static int EditDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2)
        {
            return int.MaxValue;
        }

        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>
    /// Answers "is a upstream of b". A short walk up from b settles most questions (a template
    /// usually names a near ancestor); when the walk gets long, every descendant of a is marked once
    /// and reused, so a 25,000-step chain whose steps all read the first one stays linear.
    /// </summary>
    private sealed class UpstreamIndex(List<int>[] dependencies)
    {
        private const int WalkBudget = 4_096;
        private const int MaxMarkedCandidates = 256;
        private readonly Dictionary<int, bool[]> _descendants = [];
        private List<int>[]? _dependents;

        public bool IsUpstream(int candidate, int step)
        {
            if (dependencies[step].Contains(candidate))
            {
                return true;
            }

            if (_descendants.TryGetValue(candidate, out var marked))
            {
                return marked[step];
            }

            var seen = new HashSet<int>();
            var stack = new Stack<int>(dependencies[step]);
            var unbounded = _descendants.Count >= MaxMarkedCandidates;
            while (stack.Count > 0 && (unbounded || seen.Count < WalkBudget))
            {
                var node = stack.Pop();
                if (node == candidate)
                {
                    return true;
                }

                if (seen.Add(node))
                {
                    foreach (var dependency in dependencies[node])
                    {
                        stack.Push(dependency);
                    }
                }
            }

            if (stack.Count == 0)
            {
                return false;
            }

            marked = MarkDescendants(candidate);
            _descendants[candidate] = marked;
            return marked[step];
        }

        private bool[] MarkDescendants(int candidate)
        {
            if (_dependents is null)
            {
                _dependents = new List<int>[dependencies.Length];
                for (var i = 0; i < dependencies.Length; i++)
                {
                    _dependents[i] = [];
                }

                for (var i = 0; i < dependencies.Length; i++)
                {
                    foreach (var dependency in dependencies[i])
                    {
                        _dependents[dependency].Add(i);
                    }
                }
            }

            var marked = new bool[dependencies.Length];
            var stack = new Stack<int>(_dependents[candidate]);
            while (stack.Count > 0)
            {
                var node = stack.Pop();
                if (!marked[node])
                {
                    marked[node] = true;
                    foreach (var dependent in _dependents[node])
                    {
                        stack.Push(dependent);
                    }
                }
            }

            return marked;
        }
    }
}
