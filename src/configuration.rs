//! Settings: one typed struct read from environment variables (and a `.env` file), with defaults.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// Every environment variable the binary reads. `.env.example` documents the same list.
pub const VARIABLES: &[&str] = &[
    "HOST",
    "PORT",
    "MONGODB_URI",
    "MONGODB_DATABASE",
    "MONGODB_STARTUP_TIMEOUT_SECONDS",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "OPENWEATHER_API_KEY",
    "OPENWEATHER_BASE_URL",
    "OPENWEATHER_TIMEOUT_MS",
    "CACHE_TTL_SECONDS",
    "NOT_FOUND_TTL_SECONDS",
    "STALE_IF_ERROR_SECONDS",
    "UPSTREAM_CALLS_PER_MINUTE",
    "UPSTREAM_CALLS_PER_DAY",
    "RATE_LIMIT_PER_MINUTE",
    "TRUSTED_PROXIES",
    "ADMIN_TOKEN",
    "REQUEST_TIMEOUT_SECONDS",
    "RUST_LOG",
    "LOG_FORMAT",
];

/// Longest cache lifetime accepted: a day (Redis takes more, but answers would be stale).
const MAX_CACHE_TTL_SECONDS: u64 = 86_400;
/// Longest request timeout accepted: an hour (a client has long given up by then).
const MAX_REQUEST_TIMEOUT_SECONDS: u64 = 3600;
/// Longest upstream timeout accepted: a minute. Other replicas wait for one upstream call, so
/// this bounds how long any request can wait.
const MAX_UPSTREAM_TIMEOUT_MS: u64 = 60_000;
/// Shortest admin token accepted: a guessable token guards nothing.
const MIN_ADMIN_TOKEN_CHARS: usize = 16;
/// Most calls per minute accepted (far above any OpenWeatherMap plan; more is a typo).
const MAX_CALLS_PER_MINUTE: u64 = 1_000_000;
/// Most calls per day accepted.
const MAX_CALLS_PER_DAY: u64 = 1_000_000_000;
/// Most requests per client per minute accepted (more is a typo, or no limit: that is `0`).
const MAX_RATE_LIMIT_PER_MINUTE: u64 = 100_000_000;
/// Longest stale-if-error window accepted: a week (older weather is no answer at all).
const MAX_STALE_IF_ERROR_SECONDS: u64 = 7 * 86_400;

/// The service's configuration. Each field is read from the upper-case environment variable of
/// the same name (`port` from `PORT`); the default is given on each field.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Listen address. Default `0.0.0.0` (all interfaces, as a container needs).
    pub host: IpAddr,
    /// Listen port. Default `8080`; `0` picks a free port (the tests do this).
    pub port: u16,
    /// MongoDB connection string. Default `mongodb://localhost:27017`.
    pub mongodb_uri: String,
    /// Database that holds the `logs` collection. Default `weatherlog`.
    pub mongodb_database: String,
    /// How long start-up keeps retrying an unreachable MongoDB before it gives up. Default `30` s.
    pub mongodb_startup_timeout_seconds: u64,
    /// Redis URL; a password goes in it (`redis://:secret@redis:6379`). Default `redis://localhost:6379`.
    pub redis_url: SecretUrl,
    /// First part of every Redis key, so several services or tests can share one Redis.
    /// Default `weatherlog`.
    pub redis_key_prefix: String,
    /// OpenWeatherMap API key. No default: without it, weather calls answer 503.
    pub openweather_api_key: Option<SecretString>,
    /// Upstream base URL. Default `https://api.openweathermap.org`; tests point it at a local server.
    pub openweather_base_url: String,
    /// Upstream request timeout in milliseconds (connect and response together). Default `5000`.
    pub openweather_timeout_ms: u64,
    /// How long a weather answer stays in the cache, in seconds. Default `300` (five minutes).
    pub cache_ttl_seconds: u64,
    /// How long a "place not found" answer is remembered, in seconds (capped at 60). Default `60`.
    pub not_found_ttl_seconds: u64,
    /// How long past its TTL an answer is kept to stand in when upstream fails
    /// (stale-if-error, RFC 5861), in seconds; `0` turns it off. Default `3600`.
    pub stale_if_error_seconds: u64,
    /// Most calls to OpenWeatherMap per minute, shared by every replica. Default `60`, the free
    /// plan's limit.
    pub upstream_calls_per_minute: u64,
    /// Most calls to OpenWeatherMap per UTC day, shared by every replica; `0` for no daily cap.
    /// Default `0`.
    pub upstream_calls_per_day: u64,
    /// Most requests one client (an IPv4 address, or an IPv6 /64) may make in a sliding minute,
    /// shared by every replica; then 429. `0` turns the limit off. Default `300`, as wttr.in.
    pub rate_limit_per_minute: u64,
    /// The reverse proxies and load balancers in front of the service: a request from one of
    /// them counts against the client its `X-Forwarded-For` (or `Forwarded`) names. Default:
    /// none, so every request counts against its TCP peer.
    pub trusted_proxies: TrustedProxies,
    /// Longest a request may take, body included, in seconds; then it answers 408. Default
    /// `30`: above the upstream timeout, so a slow lookup still finishes.
    pub request_timeout_seconds: u64,
    /// The bearer token of the admin routes (`DELETE /api/v1/cache`), at least 16 characters.
    /// No default: without it the admin routes answer 403.
    pub admin_token: Option<SecretString>,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax. Default `info`.
    pub rust_log: String,
    /// How log lines look: `text` for people, `json` (one object per line) for log collectors.
    /// Default `text`.
    pub log_format: LogFormat,
}

/// The shape of the log lines on stdout ([`Settings::log_format`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, for a person at a terminal.
    #[default]
    Text,
    /// One JSON object per line, with `timestamp`, `level`, `target`, `message` and the fields
    /// of the request it was written in.
    Json,
}

/// A connection URL that may hold a password, so `Debug` and logs never show it whole.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The full URL, password included: pass it only to the client that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keep scheme, host and port; hide anything between "//" and "@".
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                write!(f, "{}://[redacted]{}", &self.0[..scheme_end], &self.0[at..])
            }
            _ => f.write_str(&self.0),
        }
    }
}

/// `TRUSTED_PROXIES`: the networks whose requests may say who their client is. Parsed from a
/// comma-separated list of CIDRs (`10.0.0.0/8, 2001:db8::/32`; a bare address is one host);
/// empty entries are skipped, so an empty list trusts nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Whether `address` is in one of the networks; an IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) is looked up as its IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a network of the list is a whole address family (`0.0.0.0/0`, `::/0`): then
    /// every peer is a trusted proxy, and any client can say whose limit it uses.
    pub fn trusts_everyone(&self) -> bool {
        self.0.iter().any(|network| network.prefix_len() == 0)
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Errors: the first entry that is neither a CIDR nor an address, quoted.
    fn from_str(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(as_ipv4_when_mapped)
                    .map_err(|_| format!("{entry:?} is not a CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`, as a dual-stack socket shows IPv4
/// peers) as the IPv4 network it is (`10.0.0.0/8`): peers are looked up by their IPv4 form, so
/// the mapped form would match none of them.
fn as_ipv4_when_mapped(network: IpNet) -> IpNet {
    match network {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map_or(network, IpNet::V4)
                .trunc(),
            None => network,
        },
        _ => network,
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8080,
            mongodb_uri: "mongodb://localhost:27017".into(),
            mongodb_database: "weatherlog".into(),
            mongodb_startup_timeout_seconds: 30,
            redis_url: "redis://localhost:6379".into(),
            redis_key_prefix: "weatherlog".into(),
            openweather_api_key: None,
            openweather_base_url: "https://api.openweathermap.org".into(),
            openweather_timeout_ms: 5000,
            cache_ttl_seconds: 300,
            not_found_ttl_seconds: 60,
            stale_if_error_seconds: 3600,
            upstream_calls_per_minute: 60,
            upstream_calls_per_day: 0,
            rate_limit_per_minute: 300,
            trusted_proxies: TrustedProxies::default(),
            admin_token: None,
            request_timeout_seconds: 30,
            rust_log: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

/// Why the settings could not be loaded; the message names the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Reads the settings from the process environment, after loading `.env` when one exists.
    ///
    /// Errors: a variable that does not parse (for example `PORT=eighty`), named in the message.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal (containers get real environment variables).
        let _ = dotenvy::dotenv();
        Self::from_vars(std::env::vars())
    }

    /// Reads the settings from `(NAME, value)` pairs; names not in [`VARIABLES`] are ignored.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        // envy keeps every value a string until the field's type parses it, so a numeric
        // password or key stays text.
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| VARIABLES.contains(&name.as_str()))
            .collect();
        if let Some((_, format)) = vars.iter().find(|(name, _)| name == "LOG_FORMAT")
            && !matches!(format.as_str(), "text" | "json")
        {
            return Err(ConfigError(format!(
                "LOG_FORMAT must be text or json, not {format:?}"
            )));
        }
        // The address parser's own message ("invalid IP address syntax") names no variable.
        if let Some((_, host)) = vars.iter().find(|(name, _)| name == "HOST")
            && host.parse::<IpAddr>().is_err()
        {
            return Err(ConfigError(format!(
                "HOST must be an IP address such as 0.0.0.0 or ::, not {host:?}"
            )));
        }
        // Checked here, like HOST, so the message names the variable.
        if let Some((_, list)) = vars.iter().find(|(name, _)| name == "TRUSTED_PROXIES")
            && let Err(err) = list.parse::<TrustedProxies>()
        {
            return Err(ConfigError(format!(
                "TRUSTED_PROXIES must be comma-separated CIDRs such as 10.0.0.0/8,2001:db8::/32: {err}"
            )));
        }
        let mut settings: Settings =
            envy::from_iter(vars).map_err(|err| ConfigError(err.to_string()))?;
        // `OPENWEATHER_API_KEY=` (as in .env.example) means "no key", not an empty key.
        settings.openweather_api_key = settings
            .openweather_api_key
            .filter(|key| !key.expose_secret().trim().is_empty());
        // A token is compared trimmed (as a client sends it), so it is stored trimmed.
        settings.admin_token = settings
            .admin_token
            .map(|token| SecretString::from(token.expose_secret().trim()))
            .filter(|token| !token.expose_secret().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CACHE_TTL_SECONDS).contains(&self.cache_ttl_seconds) {
            return Err(ConfigError(format!(
                "CACHE_TTL_SECONDS must be between 1 and {MAX_CACHE_TTL_SECONDS} (a day)"
            )));
        }
        if self.stale_if_error_seconds > MAX_STALE_IF_ERROR_SECONDS {
            return Err(ConfigError(format!(
                "STALE_IF_ERROR_SECONDS must be between 0 (off) and {MAX_STALE_IF_ERROR_SECONDS} (a week)"
            )));
        }
        if !(1..=MAX_CALLS_PER_MINUTE).contains(&self.upstream_calls_per_minute) {
            return Err(ConfigError(format!(
                "UPSTREAM_CALLS_PER_MINUTE must be between 1 and {MAX_CALLS_PER_MINUTE}"
            )));
        }
        if self.upstream_calls_per_day > MAX_CALLS_PER_DAY {
            return Err(ConfigError(format!(
                "UPSTREAM_CALLS_PER_DAY must be between 0 (no daily cap) and {MAX_CALLS_PER_DAY}"
            )));
        }
        if self.rate_limit_per_minute > MAX_RATE_LIMIT_PER_MINUTE {
            return Err(ConfigError(format!(
                "RATE_LIMIT_PER_MINUTE must be between 0 (no limit) and {MAX_RATE_LIMIT_PER_MINUTE}"
            )));
        }
        if let Some(token) = &self.admin_token
            && token.expose_secret().chars().count() < MIN_ADMIN_TOKEN_CHARS
        {
            return Err(ConfigError(format!(
                "ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters (try `openssl rand -hex 32`)"
            )));
        }
        // MongoDB's rules for database names (on every platform it runs on).
        let database = &self.mongodb_database;
        if database.is_empty()
            || database.len() > 63
            || database.contains(['/', '\\', '.', ' ', '"', '$', '\0'])
        {
            return Err(ConfigError(format!(
                "MONGODB_DATABASE must be 1 to 63 characters without / \\ . space \" or $, not {database:?}"
            )));
        }
        if self.redis_key_prefix.is_empty() {
            return Err(ConfigError("REDIS_KEY_PREFIX must not be empty".into()));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.rust_log).is_err() {
            return Err(ConfigError(format!(
                "RUST_LOG is not a log filter (e.g. info or info,weatherlog=debug): {:?}",
                self.rust_log
            )));
        }
        if !(1..=MAX_REQUEST_TIMEOUT_SECONDS).contains(&self.request_timeout_seconds) {
            return Err(ConfigError(format!(
                "REQUEST_TIMEOUT_SECONDS must be between 1 and {MAX_REQUEST_TIMEOUT_SECONDS}"
            )));
        }
        if !(1..=MAX_UPSTREAM_TIMEOUT_MS).contains(&self.openweather_timeout_ms) {
            return Err(ConfigError(format!(
                "OPENWEATHER_TIMEOUT_MS must be between 1 and {MAX_UPSTREAM_TIMEOUT_MS} (a minute)"
            )));
        }
        if reqwest::Url::parse(&self.openweather_base_url).is_err() {
            return Err(ConfigError(format!(
                "OPENWEATHER_BASE_URL is not a URL: {:?}",
                self.openweather_base_url
            )));
        }
        // Parsed here too (without resolving `mongodb+srv://`), so that a malformed URI names its
        // variable rather than failing later as "could not connect". The value is not repeated: it
        // may hold a password.
        if mongodb::options::ConnectionString::parse(&self.mongodb_uri).is_err() {
            return Err(ConfigError(
                "MONGODB_URI is not a MongoDB connection string (mongodb://[user:password@]host[:port][/?options], or mongodb+srv://…)".into(),
            ));
        }
        if !self.redis_url.expose().starts_with("redis://")
            && !self.redis_url.expose().starts_with("rediss://")
        {
            return Err(ConfigError(
                "REDIS_URL must start with redis:// or rediss://".into(),
            ));
        }
        Ok(())
    }

    /// The upstream timeout as a `Duration`.
    pub fn openweather_timeout(&self) -> Duration {
        Duration::from_millis(self.openweather_timeout_ms)
    }

    /// The whole-request timeout as a `Duration`.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    /// The cache lifetime as a `Duration`.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_seconds)
    }

    /// How long past the TTL an answer may stand in for a failing upstream.
    pub fn stale_if_error(&self) -> Duration {
        Duration::from_secs(self.stale_if_error_seconds)
    }

    /// The negative-cache lifetime, never more than a minute (a place that is added upstream
    /// should not stay "not found" for long).
    pub fn not_found_ttl(&self) -> Duration {
        Duration::from_secs(self.not_found_ttl_seconds.clamp(1, 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_from(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = settings_from(&[]).expect("defaults load");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.cache_ttl_seconds, 300);
        assert_eq!(settings.rate_limit_per_minute, 300);
        assert!(settings.openweather_api_key.is_none());
    }

    #[test]
    fn an_invalid_value_names_its_variable() {
        let err = settings_from(&[("PORT", "eighty")]).expect_err("PORT=eighty is refused");
        assert!(err.to_string().contains("PORT"), "{err}");
        for (variable, value) in [
            ("CACHE_TTL_SECONDS", "0"),
            ("CACHE_TTL_SECONDS", "99999999999999999"),
            ("STALE_IF_ERROR_SECONDS", "-1"),
            ("STALE_IF_ERROR_SECONDS", "604801"),
            ("UPSTREAM_CALLS_PER_MINUTE", "0"),
            ("UPSTREAM_CALLS_PER_MINUTE", "sixty"),
            ("UPSTREAM_CALLS_PER_DAY", "-5"),
            ("RATE_LIMIT_PER_MINUTE", "-1"),
            ("RATE_LIMIT_PER_MINUTE", "three hundred"),
            ("RATE_LIMIT_PER_MINUTE", "100000001"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
            ("TRUSTED_PROXIES", "10.0.0.0/8;192.168.0.0/16"),
            ("ADMIN_TOKEN", "short"),
            ("ADMIN_TOKEN", "               x"),
            ("OPENWEATHER_TIMEOUT_MS", "18446744073709551615"),
            ("REQUEST_TIMEOUT_SECONDS", "86401"),
            ("HOST", "localhost"),
            ("MONGODB_URI", "localhost:27017"),
            ("MONGODB_URI", "mongodb://user:pass@"),
            ("MONGODB_DATABASE", ""),
            ("MONGODB_DATABASE", "a/b"),
            ("REDIS_KEY_PREFIX", ""),
            ("RUST_LOG", "[[[garbage"),
            ("LOG_FORMAT", "xml"),
            ("LOG_FORMAT", "JSON"),
        ] {
            let err = settings_from(&[(variable, value)]).expect_err(value);
            assert!(
                err.to_string().contains(variable),
                "{variable}={value:?}: {err}"
            );
            assert!(!err.to_string().contains("pass@"), "no password in {err}");
        }
    }

    #[test]
    fn trusted_proxies_are_networks_and_addresses_separated_by_commas() {
        let settings =
            settings_from(&[("TRUSTED_PROXIES", " 10.0.0.0/8, 2001:db8::/32 ,192.0.2.7,")])
                .unwrap();
        let trusted = settings.trusted_proxies;
        for address in [
            "10.1.2.3",
            "::ffff:10.1.2.3",
            "2001:db8:ffff::1",
            "192.0.2.7",
        ] {
            assert!(trusted.contains(address.parse().unwrap()), "{address}");
        }
        for address in ["11.0.0.1", "192.0.2.8", "2001:db9::1"] {
            assert!(!trusted.contains(address.parse().unwrap()), "{address}");
        }
        // An IPv4 proxy written as an IPv4-mapped IPv6 address or network is trusted all the same.
        let mapped = settings_from(&[("TRUSTED_PROXIES", "::ffff:127.0.0.1,::ffff:10.0.0.0/104")])
            .unwrap()
            .trusted_proxies;
        for address in ["127.0.0.1", "10.9.8.7", "::ffff:10.9.8.7"] {
            assert!(mapped.contains(address.parse().unwrap()), "{address}");
        }
        assert!(!mapped.contains("127.0.0.2".parse().unwrap()));
        assert!(!trusted.trusts_everyone() && !mapped.trusts_everyone());
        for everyone in ["0.0.0.0/0", "10.0.0.0/8,::/0"] {
            let list: TrustedProxies = everyone.parse().unwrap();
            assert!(list.trusts_everyone(), "{everyone}");
        }
        assert!(
            settings_from(&[("TRUSTED_PROXIES", "")])
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        assert!(settings_from(&[]).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn an_empty_key_means_no_key_and_a_numeric_key_stays_text() {
        let settings = settings_from(&[("OPENWEATHER_API_KEY", "")]).unwrap();
        assert!(settings.openweather_api_key.is_none());
        let settings = settings_from(&[("OPENWEATHER_API_KEY", "0123456789")]).unwrap();
        let key = settings.openweather_api_key.unwrap();
        assert_eq!(key.expose_secret(), "0123456789");
    }

    #[test]
    fn a_redis_password_never_shows_in_debug_output() {
        let url = SecretUrl::from("redis://:hunter2@redis:6379");
        assert_eq!(format!("{url:?}"), "redis://[redacted]@redis:6379");
    }
}
