using System.Reflection;
using System.Text;

namespace OmniStore.Tests.Api;

/// <summary>
/// The public API is written down (src/*/PublicApi.txt) and this test compares the assemblies with
/// it, so that a change of the public surface is a deliberate edit of that file, seen in review.
/// On a difference it writes the surface it found beside the file (PublicApi.received.txt) and fails
/// with the lines that differ; set OMNISTORE_ACCEPT_API=1 to write the file itself instead.
/// </summary>
public sealed class PublicApiTests
{
    public static TheoryData<string> Assemblies => new("OmniStore", "OmniStore.Extensions.DependencyInjection");

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void ThePublicSurface_IsTheOneWrittenDown(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        string actual = Surface(assembly);
        string path = Path.Combine(RepositoryRoot, "src", assemblyName, "PublicApi.txt");
        if (Environment.GetEnvironmentVariable("OMNISTORE_ACCEPT_API") == "1")
        {
            File.WriteAllText(path, actual);
        }

        string expected = File.Exists(path) ? File.ReadAllText(path) : string.Empty;
        if (expected != actual)
        {
            File.WriteAllText(Path.ChangeExtension(path, ".received.txt"), actual);
            var had = expected.Split('\n').ToHashSet();
            var has = actual.Split('\n').ToHashSet();
            var removed = had.Except(has).Select(l => "- " + l);
            var added = has.Except(had).Select(l => "+ " + l);
            Assert.Fail($"The public API of {assemblyName} is not the one in {path} (the surface found is in PublicApi.received.txt beside it; OMNISTORE_ACCEPT_API=1 writes it there):\n{string.Join('\n', removed.Concat(added))}");
        }
    }

    /// <summary>Every public type and its public and protected members, one line each, in order.</summary>
    internal static string Surface(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            lines.Add(TypeLine(type));
            const BindingFlags members = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var memberLines = new List<string>();
            foreach (var member in type.GetMembers(members))
            {
                if (MemberLine(type, member) is { } line)
                {
                    memberLines.Add("  " + line);
                }
            }

            memberLines.Sort(StringComparer.Ordinal);
            lines.AddRange(memberLines);
        }

        return string.Join('\n', lines) + "\n";
    }

    private static string TypeLine(Type type)
    {
        string kind = type.IsEnum ? "enum" : type.IsInterface ? "interface" : type.IsValueType ? "struct" : type.IsAbstract && type.IsSealed ? "static class" : type.IsSealed ? "sealed class" : type.IsAbstract ? "abstract class" : "class";
        var bases = new List<string>();
        if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum))
        {
            bases.Add(Name(b));
        }

        bases.AddRange(type.GetInterfaces().Where(i => i.IsPublic).Select(Name).Order(StringComparer.Ordinal));
        return $"{kind} {Name(type)}" + (bases.Count > 0 ? " : " + string.Join(", ", bases) : string.Empty);
    }

    private static string? MemberLine(Type type, MemberInfo member)
    {
        var nullability = new NullabilityInfoContext();
        switch (member)
        {
            case ConstructorInfo c when c.IsPublic || c.IsFamily:
                return $"ctor({Parameters(c, nullability)})";
            case MethodInfo m when (m.IsPublic || m.IsFamily) && !m.IsSpecialName:
                string generic = m.IsGenericMethod ? "<" + string.Join(", ", m.GetGenericArguments().Select(a => a.Name)) + ">" : string.Empty;
                return $"{(m.IsStatic ? "static " : string.Empty)}{Name(m.ReturnParameter, nullability)} {m.Name}{generic}({Parameters(m, nullability)})";
            case PropertyInfo p when (p.GetMethod ?? p.SetMethod) is { } accessor && (accessor.IsPublic || accessor.IsFamily):
                string access = (p.GetMethod is { IsPublic: true } or { IsFamily: true } ? "get; " : string.Empty)
                    + (p.SetMethod is { } set && (set.IsPublic || set.IsFamily) ? (set.ReturnParameter.GetRequiredCustomModifiers().Any(t => t.Name == "IsExternalInit") ? "init; " : "set; ") : string.Empty);
                return $"{(accessor.IsStatic ? "static " : string.Empty)}{Name(nullability.Create(p))} {p.Name} {{ {access}}}";
            case FieldInfo f when (f.IsPublic || f.IsFamily) && !f.IsSpecialName:
                return type.IsEnum ? $"{f.Name} = {f.GetRawConstantValue()}" : $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : string.Empty)}{(f.IsInitOnly ? "readonly " : string.Empty)}{Name(nullability.Create(f))} {f.Name}";
            case EventInfo e when e.AddMethod is { } add && (add.IsPublic || add.IsFamily):
                return $"event {Name(e.EventHandlerType!)} {e.Name}";
            default:
                return null;
        }
    }

    private static string Parameters(MethodBase method, NullabilityInfoContext nullability) =>
        string.Join(", ", method.GetParameters().Select(p =>
            (p.IsOut ? "out " : p.ParameterType.IsByRef ? "ref " : string.Empty) + Name(p, nullability) + " " + p.Name + (p.HasDefaultValue ? " = " + (p.DefaultValue ?? "null") : string.Empty)));

    private static string Name(ParameterInfo parameter, NullabilityInfoContext nullability) => Name(nullability.Create(parameter));

    private static string Name(NullabilityInfo info)
    {
        var type = info.Type;
        string name = type.IsArray ? Name(info.ElementType!) + "[]"
            : type.IsGenericType && Nullable.GetUnderlyingType(type) is null
                ? Name(type.GetGenericTypeDefinition()) + "<" + string.Join(", ", info.GenericTypeArguments.Select(Name)) + ">"
                : Name(type);
        return info.ReadState == NullabilityState.Nullable && !type.IsValueType ? name + "?" : name;
    }

    private static string Name(Type type)
    {
        if (type.IsByRef)
        {
            return Name(type.GetElementType()!);
        }

        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Name(underlying) + "?";
        }

        if (type.IsGenericParameter)
        {
            return type.Name;
        }

        string name = type.FullName ?? type.Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0)
        {
            name = name[..tick];
        }

        return type.IsGenericType && !type.IsGenericTypeDefinition
            ? name + "<" + string.Join(", ", type.GetGenericArguments().Select(Name)) + ">"
            : name.Replace('+', '.');
    }

    // The repository root, found once for the tests (the corpus finds it the same way).
    private static string RepositoryRoot => Fuzzing.FuzzCorpus.RepositoryRoot;
}
