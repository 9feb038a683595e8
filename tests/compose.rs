//! The container stack: what docker-compose.yml must promise, and its api environment and health
//! check run against the real binary, MongoDB and Redis (no Docker engine needed).

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::IgnoredAny;
use weatherlog::configuration::VARIABLES;

#[path = "support/cleanup.rs"]
mod cleanup;
#[path = "support/tcp_proxy.rs"]
mod tcp_proxy;
use tcp_proxy::TcpProxy;

/// The api's graceful shutdown timeout (`SHUTDOWN_TIMEOUT` in src/startup.rs).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the health check may take to change its answer.
const HEALTH_LIMIT: Duration = Duration::from_secs(10);

/// The parts of a Compose file these tests read; other keys are ignored.
#[derive(Debug, Deserialize)]
struct Compose {
    services: BTreeMap<String, Service>,
    #[serde(default)]
    volumes: BTreeMap<String, Option<IgnoredAny>>,
    #[serde(default)]
    networks: BTreeMap<String, Option<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
struct Service {
    healthcheck: Option<Healthcheck>,
    /// The long form only: the short list cannot wait for health.
    #[serde(default)]
    depends_on: BTreeMap<String, Dependency>,
    /// The map form, so every variable is named once.
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    volumes: Vec<String>,
    #[serde(default)]
    networks: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    restart: Option<String>,
    stop_grace_period: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Healthcheck {
    test: Vec<String>,
    interval: Option<String>,
    timeout: Option<String>,
    retries: Option<u32>,
    start_period: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    condition: String,
}

fn project_file(name: &str) -> String {
    let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn compose_file() -> Compose {
    serde_saphyr::from_str(&project_file("docker-compose.yml"))
        .unwrap_or_else(|err| panic!("docker-compose.yml does not parse: {err}"))
}

impl Compose {
    fn service(&self, name: &str) -> &Service {
        self.services
            .get(name)
            .unwrap_or_else(|| panic!("no {name} service"))
    }
}

/// `KEY=VALUE` lines of `.env.example`, the values compose would read from a fresh `.env`.
fn env_example() -> HashMap<String, String> {
    project_file(".env.example")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!(".env.example: not KEY=VALUE: {line:?}"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, the forms
/// docker-compose.yml may use.
fn interpolate(text: &str, values: &HashMap<String, String>) -> String {
    let mut resolved = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        resolved.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            resolved.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {text:?}"));
            resolved.push_str(&resolve(&body[..end], values));
            rest = &body[end + 1..];
        } else {
            panic!("write ${{VAR}}, not $VAR, in {text:?}");
        }
    }
    resolved.push_str(rest);
    resolved
}

fn resolve(expression: &str, values: &HashMap<String, String>) -> String {
    // With a colon, compose treats an empty value like a missing one.
    let set = |name: &str| values.get(name).filter(|value| !value.is_empty()).cloned();
    if let Some((name, default)) = expression.split_once(":-") {
        set(name).unwrap_or_else(|| default.to_owned())
    } else if let Some((name, error)) = expression.split_once(":?") {
        set(name).unwrap_or_else(|| panic!("compose would refuse to start: {name}: {error}"))
    } else {
        values.get(expression).cloned().unwrap_or_else(|| {
            panic!("{expression} is used without a default and not in .env.example")
        })
    }
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which starts MongoDB and Redis")
    })
}

/// The api's environment as compose builds it from `.env.example`, then moved onto this
/// machine: a fresh database, key prefix and port, and the local stores.
fn local_api_environment(compose: &Compose, mongodb_uri: &str) -> BTreeMap<String, String> {
    let example = env_example();
    let mut environment: BTreeMap<String, String> = compose
        .service("api")
        .environment
        .iter()
        .map(|(name, value)| (name.clone(), interpolate(value, &example)))
        .collect();
    // In compose the api reaches the stores by service name, with the passwords from .env. The
    // local MongoDB (SecantusDB or a mongo container) and Redis run without authentication, so
    // their URLs from the test environment stand in for those two.
    assert!(environment["MONGODB_URI"].contains("@mongo:27017/"));
    assert!(environment["REDIS_URL"].ends_with("@redis:6379"));
    environment.insert("MONGODB_URI".into(), mongodb_uri.into());
    environment.insert("REDIS_URL".into(), required_env("REDIS_URL"));
    let id = uuid::Uuid::new_v4().simple().to_string();
    environment.insert(
        "MONGODB_DATABASE".into(),
        format!("weatherlog_compose_{id}"),
    );
    environment.insert(
        "REDIS_KEY_PREFIX".into(),
        format!("weatherlog-compose-{id}"),
    );
    // In its container the api has port 8080 to itself; here it takes a free one.
    environment.insert("PORT".into(), free_port().to_string());
    environment
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A command run with exactly `environment`, from a folder with no `.env` (the binary would
/// read one, and a container has none).
fn command(program: &str, environment: &BTreeMap<String, String>) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(environment)
        .current_dir(std::env::temp_dir());
    command
}

/// `weatherlog serve` as the container runs it, stopped (and its database dropped) when this
/// is dropped, so a failing test leaves no process behind.
struct RunningApi {
    child: Child,
    database: String,
}

impl RunningApi {
    fn start(environment: &BTreeMap<String, String>) -> Self {
        let child = command(env!("CARGO_BIN_EXE_weatherlog"), environment)
            .arg("serve")
            .spawn()
            .expect("the weatherlog binary starts");
        Self {
            child,
            database: environment["MONGODB_DATABASE"].clone(),
        }
    }
}

impl Drop for RunningApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // No request cached anything, so only the database (its indexes) is left to clean up,
        // through the real server, not the proxy.
        let database = std::mem::take(&mut self.database);
        cleanup::remove_test_data(required_env("MONGODB_URI"), database, None);
    }
}

/// The api's compose health check as a command line here: the exec form, with `weatherlog`
/// (on the image's PATH) replaced by the binary cargo built.
fn health_check_command(compose: &Compose) -> Vec<String> {
    let test = &compose
        .service("api")
        .healthcheck
        .as_ref()
        .expect("the api has a health check")
        .test;
    let (kind, argv) = test.split_first().expect("a health check test");
    assert_eq!(
        kind, "CMD",
        "exec form: the runtime image has no shell tools"
    );
    assert_eq!(argv[0], "weatherlog", "the check runs the service binary");
    std::iter::once(env!("CARGO_BIN_EXE_weatherlog").to_owned())
        .chain(argv[1..].iter().cloned())
        .collect()
}

/// Runs the health check with the api's environment, as `docker exec` would; true on exit 0.
async fn health_check_passes(check: &[String], environment: &BTreeMap<String, String>) -> bool {
    let mut run = command(&check[0], environment);
    run.args(&check[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // A blocking wait on another thread, so a proxy on this test's runtime keeps forwarding.
    tokio::task::spawn_blocking(move || run.status())
        .await
        .expect("the health check thread")
        .is_ok_and(|status| status.success())
}

/// Polls the health check until it answers `healthy`, for at most `HEALTH_LIMIT`.
async fn health_check_turns(
    healthy: bool,
    check: &[String],
    environment: &BTreeMap<String, String>,
) -> bool {
    let deadline = Instant::now() + HEALTH_LIMIT;
    loop {
        if health_check_passes(check, environment).await == healthy {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Host and port of a `mongodb://` URL, as written in it (credentials and options left out).
fn host_and_port(url: &str) -> &str {
    let rest = url.split_once("://").expect("a scheme").1;
    let rest = rest.rsplit('@').next().expect("a host");
    rest.split(['/', '?']).next().expect("a host and port")
}

#[test]
fn compose_runs_exactly_the_api_mongo_and_redis() {
    let compose = compose_file();

    let names: Vec<&str> = compose.services.keys().map(String::as_str).collect();

    assert_eq!(names, ["api", "mongo", "redis"]);
}

#[test]
fn every_compose_service_has_a_health_check_with_interval_timeout_retries_and_start_period() {
    let compose = compose_file();

    for (name, service) in &compose.services {
        let check = service
            .healthcheck
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has no health check"));
        assert!(!check.test.is_empty(), "{name}: empty test");
        assert!(check.interval.is_some(), "{name}: no interval");
        assert!(check.timeout.is_some(), "{name}: no timeout");
        assert!(check.retries.is_some(), "{name}: no retries");
        assert!(check.start_period.is_some(), "{name}: no start_period");
    }
}

#[test]
fn the_compose_api_waits_for_healthy_mongo_and_redis_and_restarts_unless_stopped() {
    let compose = compose_file();
    let api = compose.service("api");

    let dependencies: Vec<(&str, &str)> = api
        .depends_on
        .iter()
        .map(|(name, dependency)| (name.as_str(), dependency.condition.as_str()))
        .collect();

    assert_eq!(
        dependencies,
        [("mongo", "service_healthy"), ("redis", "service_healthy")]
    );
    assert_eq!(api.restart.as_deref(), Some("unless-stopped"));
}

#[test]
fn compose_gives_the_api_longer_to_stop_than_its_shutdown_timeout() {
    let compose = compose_file();

    let grace = compose
        .service("api")
        .stop_grace_period
        .as_deref()
        .expect("the api has a stop_grace_period");
    let seconds: u64 = grace
        .strip_suffix('s')
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("stop_grace_period in whole seconds, like 30s: {grace:?}"));

    assert!(Duration::from_secs(seconds) > SHUTDOWN_TIMEOUT, "{grace}");
}

#[test]
fn compose_keeps_mongo_and_redis_data_in_declared_named_volumes() {
    let compose = compose_file();

    for (service, data) in [("mongo", "/data/db"), ("redis", "/data")] {
        let volume = compose
            .service(service)
            .volumes
            .iter()
            .find_map(|mount| mount.strip_suffix(&format!(":{data}")))
            .unwrap_or_else(|| panic!("{service} mounts nothing on {data}"));
        // A path would be a bind mount of a host folder, not a named volume.
        assert!(!volume.contains('/'), "{service}: {volume} is a path");
        assert!(
            compose.volumes.contains_key(volume),
            "{volume} is not declared under the top-level volumes"
        );
    }
}

#[test]
fn all_compose_services_join_one_custom_network() {
    let compose = compose_file();

    let networks: Vec<&String> = compose.networks.keys().collect();
    assert_eq!(networks.len(), 1, "one declared network: {networks:?}");

    for (name, service) in &compose.services {
        assert_eq!(
            &service.networks,
            &[networks[0].clone()],
            "{name}'s networks"
        );
    }
}

#[test]
fn only_the_compose_api_publishes_a_port() {
    let compose = compose_file();

    assert!(
        compose.service("mongo").ports.is_empty(),
        "mongo publishes a port"
    );
    assert!(
        compose.service("redis").ports.is_empty(),
        "redis publishes a port"
    );
    let api_ports = &compose.service("api").ports;
    assert_eq!(api_ports.len(), 1, "{api_ports:?}");
    assert!(api_ports[0].ends_with(":8080"), "{api_ports:?}");
}

#[test]
fn the_compose_api_environment_holds_exactly_the_variables_the_binary_reads() {
    let compose = compose_file();
    let environment = &compose.service("api").environment;

    for name in environment.keys() {
        assert!(
            VARIABLES.contains(&name.as_str()),
            "{name} is set for the api, which never reads it"
        );
    }
    // Every setting reaches the container: one left out is silently its default in Docker,
    // whatever `.env` says.
    for name in VARIABLES {
        assert!(
            environment.contains_key(*name),
            "{name} is read by the binary but not passed to the api in docker-compose.yml"
        );
    }
    assert_eq!(
        environment["HOST"], "0.0.0.0",
        "reachable from outside the container"
    );
    assert_eq!(environment["PORT"], "8080", "the port the image exposes");
}

#[test]
fn the_compose_redis_health_check_authenticates_without_a_password_on_the_command_line() {
    let compose = compose_file();
    let redis = compose.service("redis");
    let test = &redis.healthcheck.as_ref().expect("a health check").test;

    let words: Vec<&str> = test
        .iter()
        .flat_map(|part| part.split_whitespace())
        .collect();

    for flag in ["-a", "--pass", "--user", "-u"] {
        assert!(
            !words.contains(&flag),
            "{flag} puts a secret where ps shows it: {test:?}"
        );
    }
    assert!(
        words.contains(&"PONG"),
        "it must require the reply PONG: {test:?}"
    );
    assert!(
        redis.environment.contains_key("REDISCLI_AUTH"),
        "redis-cli reads its password from REDISCLI_AUTH"
    );
}

#[tokio::test]
async fn compose_builds_valid_store_urls_from_the_example_settings() {
    let compose = compose_file();
    let example = env_example();
    let environment = &compose.service("api").environment;

    let mongodb_uri = interpolate(&environment["MONGODB_URI"], &example);
    let redis_url = interpolate(&environment["REDIS_URL"], &example);

    // Parsing only: neither driver connects (or resolves the service names) before first use.
    let mongodb = mongodb::options::ClientOptions::parse(&mongodb_uri)
        .await
        .expect("a MongoDB URI the driver accepts");
    assert_eq!(mongodb.hosts[0].to_string(), "mongo:27017");
    let credential = mongodb.credential.expect("a user and password");
    assert_eq!(
        credential.username.as_deref(),
        Some(example["MONGO_ROOT_USERNAME"].as_str())
    );
    assert_eq!(
        credential.password.as_deref(),
        Some(example["MONGO_ROOT_PASSWORD"].as_str())
    );
    assert_eq!(
        credential.source.as_deref(),
        Some("admin"),
        "the root user lives in admin"
    );
    let redis = redis::Client::open(redis_url.as_str()).expect("a Redis URL the driver accepts");
    let info = redis.get_connection_info();
    assert!(
        matches!(info.addr(), redis::ConnectionAddr::Tcp(host, 6379) if host == "redis"),
        "{:?}",
        info.addr()
    );
    assert_eq!(
        info.redis_settings().password(),
        Some(example["REDIS_PASSWORD"].as_str())
    );
}

#[tokio::test]
async fn the_compose_health_check_passes_once_the_api_runs_with_the_compose_environment() {
    let compose = compose_file();
    let environment = local_api_environment(&compose, &required_env("MONGODB_URI"));
    let check = health_check_command(&compose);

    let _api = RunningApi::start(&environment);

    assert!(
        health_check_turns(true, &check, &environment).await,
        "the health check did not pass within {HEALTH_LIMIT:?}"
    );
}

#[tokio::test]
async fn the_compose_health_check_fails_when_mongodb_goes_down() {
    let compose = compose_file();
    let mongodb_uri = required_env("MONGODB_URI");
    let target = host_and_port(&mongodb_uri).replace("localhost", "127.0.0.1");
    let mut proxy = TcpProxy::start(target.parse().expect("host:port")).await;
    // A single server: talk to it directly, so the driver never goes around the proxy.
    let proxied = format!("mongodb://{}/?directConnection=true", proxy.address);
    let environment = local_api_environment(&compose, &proxied);
    let check = health_check_command(&compose);
    let _api = RunningApi::start(&environment);
    assert!(
        health_check_turns(true, &check, &environment).await,
        "the health check did not pass within {HEALTH_LIMIT:?}"
    );

    proxy.cut();

    assert!(
        health_check_turns(false, &check, &environment).await,
        "the health check still passed {HEALTH_LIMIT:?} after MongoDB went down"
    );
}
