using System.Reflection;
using System.Xml.Linq;
using MlPlatform.Host;
using NetArchTest.Rules;

namespace MlPlatform.ArchitectureTests;

/// <summary>A module talks to another only through that module's Contracts.</summary>
public sealed class ModuleBoundaryTests
{
    private static readonly string[] ModuleNames = ModuleCatalog.All.Select(m => m.Name).ToArray();

    public static TheoryData<string> Modules() => new(ModuleNames);

    private static Assembly Implementation(string module) => ModuleCatalog.All.Single(m => m.Name == module).GetType().Assembly;

    private static Assembly Contracts(string module) => Assembly.Load($"MlPlatform.{module}.Contracts");

    [Theory]
    [MemberData(nameof(Modules))]
    public void Given_module_Then_it_references_no_other_module_implementation(string module)
    {
        var others = ModuleNames.Where(m => m != module).Select(m => $"MlPlatform.{m}").ToHashSet();

        var referenced = Implementation(module).GetReferencedAssemblies().Select(a => a.Name!).ToList();
        referenced.Where(others.Contains).ShouldBeEmpty($"{module} references another module's implementation");

        var projectReferences = ProjectReferences($"src/Modules/{module}/MlPlatform.{module}/MlPlatform.{module}.csproj");
        projectReferences.Where(others.Contains).ShouldBeEmpty($"{module}'s project references another module's implementation");
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void Given_module_Then_its_types_do_not_use_other_modules_implementation_types(string module)
    {
        var otherNamespaces = ModuleNames.Where(m => m != module)
            .SelectMany(m => Implementation(m).GetTypes().Select(t => t.Namespace).OfType<string>())
            // Only our namespaces: generated code (regex, ...) lands in shared System namespaces.
            .Where(n => n.StartsWith("MlPlatform.", StringComparison.Ordinal))
            .Where(n => !n.EndsWith(".Contracts", StringComparison.Ordinal) && !n.Contains(".Contracts.", StringComparison.Ordinal))
            .Distinct()
            .ToArray();

        var result = Types.InAssembly(Implementation(module)).ShouldNot().HaveDependencyOnAny(otherNamespaces).GetResult();

        result.IsSuccessful.ShouldBeTrue($"{module} uses: {string.Join(", ", result.FailingTypeNames ?? [])}");
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void Given_contracts_Then_they_reference_only_the_shared_kernel_and_other_contracts(string module)
    {
        var implementations = ModuleNames.Select(m => $"MlPlatform.{m}").ToHashSet();

        Contracts(module).GetReferencedAssemblies().Select(a => a.Name!).Where(implementations.Contains)
            .ShouldBeEmpty($"{module}.Contracts references a module implementation");
        ProjectReferences($"src/Modules/{module}/MlPlatform.{module}.Contracts/MlPlatform.{module}.Contracts.csproj")
            .Where(r => r.StartsWith("MlPlatform.", StringComparison.Ordinal) && r != "MlPlatform.SharedKernel" && !r.EndsWith(".Contracts", StringComparison.Ordinal))
            .ShouldBeEmpty();
    }

    [Fact]
    public void Given_shared_kernel_Then_it_depends_on_no_module()
    {
        var kernel = typeof(SharedKernel.Modules.IModule).Assembly;
        var modules = ModuleNames.SelectMany(m => new[] { $"MlPlatform.{m}", $"MlPlatform.{m}.Contracts" }).ToHashSet();

        kernel.GetReferencedAssemblies().Select(a => a.Name!).Where(modules.Contains).ShouldBeEmpty();
        ProjectReferences("src/MlPlatform.SharedKernel/MlPlatform.SharedKernel.csproj").ShouldBeEmpty();
        var result = Types.InAssembly(kernel).ShouldNot().HaveDependencyOnAny(modules.ToArray()).GetResult();
        result.IsSuccessful.ShouldBeTrue(string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Fact]
    public void Given_catalog_Then_every_module_project_on_disk_is_loaded_by_the_host()
    {
        var onDisk = Directory.GetDirectories(Path.Combine(RepositoryRoot, "src", "Modules")).Select(Path.GetFileName).Order().ToArray();

        onDisk.ShouldBe(ModuleNames.Order().ToArray());
        ModuleNames.Length.ShouldBe(7);
    }

    /// <summary>Names of the projects a .csproj references (file names without extension).</summary>
    private static List<string> ProjectReferences(string relativePath)
    {
        var document = XDocument.Load(Path.Combine(RepositoryRoot, relativePath));
        return document.Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')))
            .ToList();
    }

    internal static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "MlPlatform.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("MlPlatform.sln not found above the test binaries.");
        }
    }
}
