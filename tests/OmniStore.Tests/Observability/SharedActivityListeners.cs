namespace OmniStore.Tests.Observability;

/// <summary>
/// Tests that listen to the OmniStore ActivitySource run one at a time: a span is recorded when any
/// listener of the process samples it, so one test's listener would record spans that another
/// test's expects to stay unrecorded.
/// </summary>
[CollectionDefinition(Name)]
public sealed class SharedActivityListeners
{
    public const string Name = "Listeners of the OmniStore ActivitySource";
}
