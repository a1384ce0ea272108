using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OmniStore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers one <see cref="OmniStoreClient"/> for an application (docs/api.md, "Dependency injection").</summary>
public static class OmniStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="OmniStoreClient"/> (also as <see cref="IOmniStoreClient"/>), its
    /// settings bound from <paramref name="configuration"/> (a section such as
    /// <c>configuration.GetSection("OmniStore")</c>; see <see cref="OmniStoreClientSettings"/>) and
    /// validated when the host starts. The client is made when first asked for and connects on its
    /// first request, so neither startup nor resolving it waits on the network; the container
    /// disposes it.
    /// </summary>
    public static OptionsBuilder<OmniStoreClientSettings> AddOmniStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddOmniStore(settings => configuration.Bind(settings));
    }

    /// <summary>As <see cref="AddOmniStore(IServiceCollection, IConfiguration)"/>, the settings given in code.</summary>
    public static OptionsBuilder<OmniStoreClientSettings> AddOmniStore(this IServiceCollection services, Action<OmniStoreClientSettings> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddOptions<OmniStoreClientSettings>().Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OmniStoreClientSettings>, OmniStoreClientSettingsValidator>());
        builder.ValidateOnStart();
        services.TryAddSingleton(provider =>
        {
            var settings = provider.GetRequiredService<IOptions<OmniStoreClientSettings>>().Value;
            return Create(settings, provider.GetService<ILoggerFactory>());
        });
        services.TryAddSingleton<IOmniStoreClient>(provider => provider.GetRequiredService<OmniStoreClient>());
        return builder;
    }

    internal static OmniStoreClient Create(OmniStoreClientSettings settings, ILoggerFactory? loggerFactory)
    {
        var options = settings.ToOptions(loggerFactory);
        return string.IsNullOrWhiteSpace(settings.ConnectionString)
            ? OmniStoreClient.OpenEmbedded(options)
            : OmniStoreClient.Create(settings.ConnectionString, options);
    }
}
