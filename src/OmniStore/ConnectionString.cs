using System.Globalization;

namespace OmniStore;

/// <summary>
/// The settings a connection string carries after its addresses, so that one string configures a
/// client wherever a string is all there is (<c>omst_init</c> from C and Fortran,
/// <c>$OMNISTORE_RELAY</c>, <see cref="OmniStoreClient.ConnectAsync(string, OmniStoreOptions?, CancellationToken)"/>):
/// <c>tls+tcp://relay:7443,tls+tcp://root:7443;tlsCert=/etc/omnistore/w.pem;tlsKey=/etc/omnistore/w.key;tlsCa=/etc/omnistore/ca.pem</c>.
/// Each setting is <c>key=value</c> after a <c>;</c>; keys are matched without regard to case.
/// A setting fills what the options leave unset: options set in code win.
/// </summary>
internal static class ConnectionString
{
    /// <summary>Every key a connection string may hold, as documented.</summary>
    public static readonly IReadOnlyList<string> Keys = ["secretFile", "tlsCert", "tlsKey", "tlsCa", "tlsCrl", "window", "rendezvous"];

    /// <summary>Splits <paramref name="text"/> into its addresses and its settings (key as in <see cref="Keys"/>, value).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: a setting that is not <c>key=value</c>, an unknown or repeated key, an empty value.</exception>
    public static (string Addresses, IReadOnlyDictionary<string, string> Settings) Split(string text, string? label = null)
    {
        int at = text.IndexOf(';', StringComparison.Ordinal);
        if (at < 0)
        {
            return (text, new Dictionary<string, string>());
        }

        string where = label is null ? "the connection string" : label;
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string part in text[(at + 1)..].Split(';'))
        {
            string setting = part.Trim();
            if (setting.Length == 0)
            {
                continue; // a trailing ';'
            }

            int equals = setting.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? setting : setting[..equals].Trim();
            string? known = Keys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                throw Invalid(where, $"'{Internal.UntrustedText.Escape(key, 40)}' is not a setting (the settings are {string.Join(", ", Keys)})");
            }

            string value = equals < 0 ? string.Empty : setting[(equals + 1)..].Trim();
            if (value.Length == 0)
            {
                throw Invalid(where, $"{known} has no value (write {known}=VALUE)");
            }

            if (!settings.TryAdd(known, value))
            {
                throw Invalid(where, $"{known} is given twice");
            }
        }

        return (text[..at], settings);
    }

    /// <summary><paramref name="options"/> with what <paramref name="settings"/> gives filled in where the options leave it unset.</summary>
    public static OmniStoreOptions Apply(OmniStoreOptions options, IReadOnlyDictionary<string, string> settings, string? label = null)
    {
        string where = label is null ? "the connection string" : label;
        if (settings.TryGetValue("secretFile", out string? secretFile) && options.SharedSecret is null)
        {
            options = options with { SharedSecret = Internal.SecretFile.Read(secretFile) };
        }

        if (settings.TryGetValue("window", out string? window) && options.TransferWindow == OmniStoreOptions.DefaultTransferWindow)
        {
            if (!int.TryParse(window, NumberStyles.None, CultureInfo.InvariantCulture, out int requests) || requests is < 1 or > OmniStoreOptions.MaxTransferWindow)
            {
                throw Invalid(where, $"window={Internal.UntrustedText.Escape(window, 20)} is not a number of requests from 1 to {OmniStoreOptions.MaxTransferWindow}");
            }

            options = options with { TransferWindow = requests };
        }

        if (settings.TryGetValue("rendezvous", out string? rendezvous) && options.Rendezvous is null)
        {
            options = options with { Rendezvous = rendezvous };
        }

        string[] tls = ["tlsCert", "tlsKey", "tlsCa"];
        int given = tls.Count(settings.ContainsKey);
        if ((given > 0 || settings.ContainsKey("tlsCrl")) && options.Tls is null)
        {
            if (given != tls.Length)
            {
                throw Invalid(where, $"TLS needs {string.Join(", ", tls)} together; it lacks {string.Join(", ", tls.Where(k => !settings.ContainsKey(k)))}");
            }

            options = options with
            {
                Tls = new TlsOptions
                {
                    CertificateFile = settings["tlsCert"],
                    KeyFile = settings["tlsKey"],
                    CaFile = settings["tlsCa"],
                    RevocationListFile = settings.GetValueOrDefault("tlsCrl"),
                },
            };
        }

        return options;
    }

    private static OmniStoreException Invalid(string where, string what) =>
        new(OmniStoreError.InvalidArgument, $"In {where}: {what}.");
}
